"""``ersgrid serve``: the live EMS (twin on an accelerated clock, REST API, dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ersgrid.cli.console import say
from ersgrid.cli.errors import on_interrupt

__all__ = ["serve"]


def serve(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    speed: Annotated[
        float, typer.Option(help="Scenario seconds per wall-clock second.", min=0.001)
    ] = 60.0,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the API and dashboard.")] = 8000,
    db: Annotated[
        str | None,
        typer.Option(
            help="Store URL: sqlite:///file.db (default in --data-dir) or postgresql://..."
        ),
    ] = None,
    mqtt: Annotated[
        str | None, typer.Option(help="MQTT broker, e.g. mqtt://127.0.0.1:1883 (off if not given).")
    ] = None,
    ocpp_port: Annotated[
        int | None, typer.Option(help="Port of the OCPP CSMS, 2.0.1 and 2.1 (off if not given).")
    ] = None,
    mqtt_credentials: Annotated[
        Path | None,
        typer.Option(
            help="Folder from `ersgrid mqtt-credentials`: log in to the broker as the service "
            "(service.json) and the twin's devices (twin.json); anonymous if not given."
        ),
    ] = None,
    telemetry_window_s: Annotated[
        float,
        typer.Option(
            help="Reject telemetry stamped further than this from the live clock [s].", min=1.0
        ),
    ] = 3600.0,
    ingest_workers: Annotated[
        int,
        typer.Option(
            help="MQTT ingest processes (shared subscription); 0: in the service.", min=0, max=64
        ),
    ] = 0,
    strategy: Annotated[str, typer.Option(help="Strategy of the live loop.")] = "uncontrolled",
    days: Annotated[
        float, typer.Option(help="Scenario days the live loop covers.", min=0.0104)
    ] = 7.0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder for study runs and the default database.")
    ] = None,
    ledger: Annotated[
        bool,
        typer.Option(
            help="Meter the live loop into a signed ledger (data-dir/ledger/<start>), settled "
            "and anchored every settlement period."
        ),
    ] = True,
    chain_url: Annotated[
        str | None,
        typer.Option(help="Ethereum JSON-RPC node to anchor on (in-process chain if not given)."),
    ] = None,
    auth: Annotated[
        bool,
        typer.Option(
            help="Require a bearer token on every route but /api/health (--no-auth: anyone "
            "on this host may steer; loopback only)."
        ),
    ] = True,
    token_ttl: Annotated[
        float, typer.Option(help="Lifetime of a login token [min].", min=0.1, max=7 * 24 * 60)
    ] = 60.0,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate (chain): serve HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    insecure_allow_plaintext_remote: Annotated[
        bool,
        typer.Option(
            "--insecure-allow-plaintext-remote",
            help="Serve a non-loopback --host over plain HTTP (passwords and tokens in clear).",
        ),
    ] = False,
) -> None:
    """Run the live EMS: the twin on an accelerated clock, REST API and dashboard."""
    from ersgrid.service.server import build_service, check_bind
    from ersgrid.service.server import serve as run_server

    check_bind(host, auth, tls_cert, tls_key, insecure_allow_plaintext_remote)
    folder = data_dir or Path("results") / "service"
    on_interrupt(f"the service's data in {folder} is kept")
    service = build_service(
        scenario, strategy, speed=speed, days=days, db=db, mqtt=mqtt, ocpp_port=ocpp_port,
        data_dir=folder, host=host, ingest_workers=ingest_workers, ledger=ledger,
        chain_url=chain_url, mqtt_credentials=mqtt_credentials,
        telemetry_window_s=telemetry_window_s, auth=auth, token_ttl_s=token_ttl * 60.0,
    )  # fmt: skip
    scheme = "https" if tls_cert is not None else "http"
    base = f"{scheme}://{host}:{port}"
    say(f"serving {service.loop.scenario.name} at {base}/ (API docs at /docs), clock x{speed:g}")
    if service.auth is not None:
        password = service.auth.ensure_admin()
        if password is not None:
            say(
                "created the first user, admin, with the password below (shown only now; "
                "log in on the dashboard, or get a token):\n"
                f"  password: {password}\n"
                f"  curl -s -d username=admin -d 'password={password}' {base}/api/token\n"
                f'  curl -H "Authorization: Bearer <access_token>" {base}/api/state\n'
                f"add users with: ersgrid users add NAME --role operator --data-dir {folder}"
            )
    else:
        say("authentication is off: anyone on this host may read and steer the service")
    run_server(
        service, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key,
        allow_plaintext_remote=insecure_allow_plaintext_remote,
    )  # fmt: skip
