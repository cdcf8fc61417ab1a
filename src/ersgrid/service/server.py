"""Assemble and run the service: ``ersgrid serve SCENARIO``."""

from __future__ import annotations

import datetime as dt
import gc
import ipaddress
import tempfile
from pathlib import Path
from typing import Any

from ersgrid.errors import ServiceError
from ersgrid.service.app import Service, create_app
from ersgrid.service.live import LiveLoop
from ersgrid.service.studies import Studies

__all__ = ["build_service", "check_bind", "freeze_startup_heap", "serve", "store_url"]


def store_url(db: str | None, data_dir: Path) -> str:
    """The store's URL: ``db`` if given, else SQLite in ``data_dir``."""
    return db or f"sqlite:///{Path(data_dir) / 'ersgrid.db'}"


def build_service(
    scenario: str,
    strategy: str = "uncontrolled",
    speed: float = 60.0,
    days: float = 7.0,
    start: dt.date | None = None,
    seed: int | None = None,
    db: str | None = None,
    mqtt: str | None = None,
    site: str | None = None,
    ocpp_port: int | None = None,
    data_dir: Path | None = None,
    stale_after_s: float = 10.0,
    host: str = "127.0.0.1",
    ingest_workers: int = 0,
    ledger: bool = True,
    chain_url: str | None = None,
    mqtt_credentials: Path | None = None,
    telemetry_window_s: float = 3600.0,
    auth: bool = True,
    token_ttl_s: float = 3600.0,
) -> Service:
    """Build the live loop and the adapters named; nothing runs until :func:`serve` starts it.

    Parameters
    ----------
    scenario : str
        Built-in name or YAML path.
    speed : float [-]
        Scenario seconds per wall second.
    days : float [d]
        Scenario days the live loop covers.
    db : str, optional
        SQLAlchemy URL of the store (``sqlite:///file.db`` or ``postgresql://...``);
        ``sqlite:///<data_dir>/ersgrid.db`` by default.
    mqtt : str, optional
        ``mqtt://host:port`` of the broker; no MQTT when not given.
    site : str, optional
        Site name in MQTT topics; the scenario name by default.
    ocpp_port : int, optional
        Port of the OCPP CSMS (websocket) on the service host; no OCPP when not given.
    data_dir : Path, optional
        Where study runs and the default database go.
    stale_after_s : float [s]
        Wall-clock silence after which a segment device counts as stale.
    host : str
        Address the OCPP CSMS binds to.
    ingest_workers : int
        MQTT ingest processes on a shared subscription; 0 ingests in the service process.
    ledger : bool
        Meter the live loop into a signed ledger in ``<data_dir>/ledger/<UTC start time>``,
        settled and anchored every settlement period.
    chain_url : str, optional
        Ethereum JSON-RPC node to anchor the ledger on; the in-process chain by default.
    mqtt_credentials : Path, optional
        Folder written by ``ersgrid mqtt-credentials``: the service and the twin's devices
        log in to the broker with ``service.json`` and ``twin.json``; anonymous if not given.
    telemetry_window_s : float [s]
        Telemetry stamped further than this from the live loop's clock is rejected.
    auth : bool
        Require a bearer token on every route but the health check (accounts in the store).
    token_ttl_s : float [s]
        Lifetime of a token.
    """
    folder = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="ersgrid-"))
    folder.mkdir(parents=True, exist_ok=True)
    loop = LiveLoop(scenario, strategy, speed=speed, days=days, start=start, seed=seed)
    service = Service(loop=loop, studies=Studies(folder / "runs"))
    from ersgrid.service.anomaly import AnomalyDetector
    from ersgrid.service.storage import Store

    detector = AnomalyDetector(loop.layout, loop.alarms)
    loop.observers.append(detector.observe)
    service.extras["anomaly"] = detector

    db_url = store_url(db, folder)
    store = Store(db_url)
    store.attach(loop, twin_telemetry=mqtt is None)
    service.extras["storage"] = store
    if auth:
        from ersgrid.service.auth import Auth

        service.auth = Auth(store, token_ttl_s=token_ttl_s)
    if mqtt is not None:
        from ersgrid.service.mqtt import MqttBridge
        from ersgrid.service.mqtt_auth import Identities

        identities = Identities.from_dir(mqtt_credentials) if mqtt_credentials else None
        # the twin's devices publish once a tick: never call them stale between two ticks
        tick_wall_s = loop.tick_steps * loop.dt_s / loop.speed
        service.extras["mqtt"] = MqttBridge(
            loop, mqtt, site or loop.scenario.name, store,
            stale_after_s=max(stale_after_s, 3 * tick_wall_s), workers=ingest_workers,
            db_url=db_url, identities=identities, window_s=telemetry_window_s,
        )  # fmt: skip
    if ledger:
        from ersgrid.service.ledger import LiveLedger

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        service.extras["ledger"] = LiveLedger(loop, folder / "ledger" / stamp, chain_url=chain_url)
    if ocpp_port is not None:
        from ersgrid.service.csms import Csms

        service.extras["ocpp"] = Csms(loop, host=host, port=ocpp_port)
    return service


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or ``localhost``) is the loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise ServiceError(f"--host {host!r}: give an IP address or localhost") from None


def check_bind(
    host: str,
    auth: bool,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    allow_plaintext_remote: bool = False,
) -> None:
    """Refuse to serve other machines without authentication, or without TLS unless asked.

    Raises
    ------
    ServiceError
        ``--host`` is not loopback and authentication is off, or TLS is off without
        ``allow_plaintext_remote``; or only one of the certificate and key is given, or one
        of them is not a file.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ServiceError("TLS needs both --tls-cert and --tls-key")
    for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not Path(path).is_file():
            raise ServiceError(f"{option} {path}: no such file")
    if is_loopback(host):
        return
    if not auth:
        raise ServiceError(
            f"--host {host} lets other machines connect: that needs authentication; drop --no-auth"
        )
    if tls_cert is None and not allow_plaintext_remote:
        raise ServiceError(
            f"--host {host} lets other machines connect: give --tls-cert and --tls-key, or keep "
            "--host 127.0.0.1 behind a reverse proxy that terminates TLS, or pass "
            "--insecure-allow-plaintext-remote to send passwords and tokens in clear text"
        )


def freeze_startup_heap() -> int:
    """Keep what start-up built out of the garbage collector's full passes; returns how many
    objects that is [-].

    The scenario, the world, the twin, the grid model and the imported modules are a few
    hundred thousand objects that live as long as the service. Every full collection walks
    them all, on whichever thread allocated last: with 200 requests in flight that was a
    pause of up to half a second on the event loop every few seconds, the API's p99. Frozen
    (:func:`gc.freeze`) after one collection, they are never walked again; what the service
    allocates afterwards (alarms, requests, telemetry) is collected as before.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def serve(
    service: Service,
    host: str = "127.0.0.1",
    port: int = 8000,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    allow_plaintext_remote: bool = False,
    **uvicorn_kw: Any,
) -> None:
    """Start the loop and adapters, serve the API until interrupted, then stop everything.

    Parameters
    ----------
    tls_cert, tls_key : Path, optional
        PEM certificate (chain) and private key: the API speaks HTTPS.
    allow_plaintext_remote : bool
        Serve a non-loopback ``host`` over plain HTTP (see :func:`check_bind`).
    """
    import uvicorn

    check_bind(host, service.auth is not None, tls_cert, tls_key, allow_plaintext_remote)
    if tls_cert is not None:
        uvicorn_kw |= {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}
    app = create_app(service)
    for adapter in service.extras.values():
        if hasattr(adapter, "start"):
            adapter.start()
    freeze_startup_heap()
    service.loop.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", **uvicorn_kw)
    finally:
        service.loop.stop()
        for adapter in service.extras.values():
            if hasattr(adapter, "stop"):
                adapter.stop()
        service.studies.shutdown()
