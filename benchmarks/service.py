"""Service benchmark: MQTT ingest into storage, telemetry→setpoint latency, API latency.

Needs Mosquitto on 127.0.0.1:1883. Corridor: Shin-Tomei cut into 80 m segments, which
gives 1,000 segments (500 per direction). Every publisher and client is a separate process
on loopback; the service (bridge, store writer, paced live loop, uvicorn) runs here.

1. Ingest (live loop paused): publisher processes (``PUBLISHERS``, 2) send telemetry for
   the 1,000 segments at a fixed offered rate for ``INGEST_S`` seconds; figures are
   messages accepted and rows committed to SQLite per second, with the ingest in the
   service process and in ``INGEST_WORKERS`` processes on a shared subscription.
   Peer: a bare paho subscriber that only counts, same offered load.
2. Latency: 1,000 segments at 1 Hz each (1,000 msg/s); every telemetry message is answered
   with a setpoint carrying ``in_reply_to``; the device measures publish → setpoint
   received (two broker hops included), while the live loop runs at x60.
3. API: a second process sends requests from 8 threads for ``API_S`` seconds while the
   loop runs at ×60 with the ingest of 2; p50/p99 per endpoint. Peer: ``/api/health``.
4. Authentication on beside off, in the same run: a second process keeps ``CONCURRENCY``
   (200) requests in flight for ``API_S`` seconds (state, plan, alarms, raising an alarm,
   and the open ``/api/health`` as peer) while the 1,000 devices report at 1 Hz; p50/p99 per
   endpoint and telemetry → setpoint p99, first without a login, then with a bearer token
   on every request. The load generator speaks HTTP/1.1 over asyncio streams on 200
   keep-alive connections (a generic client spends a core on a hundred requests a second
   at this concurrency and would measure itself); its CPU time is printed beside the
   service's. ``LIVE_WORKERS=2`` answers the devices' telemetry in two ingest processes
   (``ersgrid serve --ingest-workers 2``) instead of in the service process, where the
   API's requests share the interpreter with it.

Before the live loop starts, the start-up heap is frozen out of the garbage collector's
full passes, as ``ersgrid serve`` does (:func:`ersgrid.service.server.freeze_startup_heap`);
``FREEZE=0`` leaves it to the collector, to measure what that costs.

``SECTIONS=4`` runs only the last section (any comma-separated subset of 1,2,3,4).

With ``SECURED=1`` the benchmark starts its own Mosquitto on a free loopback port with the
identities of ``ersgrid mqtt-credentials`` for the corridor (no anonymous clients, an ACL per
device): the service logs in as ``ersgrid-service``, the publishers as ``ersgrid-twin`` (they
stand in for many devices); telemetry is stamped with the live loop's clock, as the telemetry
window requires. ``SECTIONS=1`` runs the ingest part only.

Run: ``.venv/bin/python benchmarks/service.py``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HOST, PORT = "127.0.0.1", 1883
SECURED = os.environ.get("SECURED", "") == "1"
LOGIN: tuple[str, str] | None = None  # the publishers' and devices' MQTT identity
PEER_LOGIN: tuple[str, str] | None = None  # the peer subscriber's (the service's identity)
CLOCK_TS = 0.0  # the live loop's clock when the benchmark starts [s since epoch]
PUBLISHERS = int(os.environ.get("PUBLISHERS", "2"))
INGEST_WORKERS = [int(w) for w in os.environ.get("INGEST_WORKERS", "0,2").split(",")]
INGEST_RATES = [int(r) for r in os.environ.get("INGEST_RATES", "10000,20000,30000").split(",")]
INGEST_S = float(os.environ.get("INGEST_S", "8"))
API_S = float(os.environ.get("API_S", "8"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "200"))
LIVE_WORKERS = int(os.environ.get("LIVE_WORKERS", "0"))
SECTIONS = {int(x) for x in os.environ.get("SECTIONS", "1,2,3,4").split(",")}


def _client(name: str, login: tuple[str, str] | None = None) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{os.getpid()}")
    if (login or LOGIN) is not None:
        c.username_pw_set(*(login or LOGIN or ()))
    c.max_queued_messages_set(0)
    c.connect(HOST, PORT, keepalive=60)
    return c


def publisher(site: str, seg_ids: list[str], rate: float, seconds: float, out: Any) -> None:
    """Publish telemetry round-robin over the segments at ``rate`` msg/s for ``seconds``."""
    c = _client("bench-pub")
    c.loop_start()
    topics = [f"ersgrid/{site}/segment/{s}/telemetry" for s in seg_ids]
    n_total = int(rate * seconds)
    t0 = time.perf_counter()
    sent = 0
    batch = max(1, int(rate / 200))  # pace in 5 ms slices
    while sent < n_total:
        for _ in range(min(batch, n_total - sent)):
            body = {"ts": CLOCK_TS, "seq": sent, "power_kw": 120.5, "energy_kwh": 1000.0 + sent,
                    "temperature_c": 31.5}  # fmt: skip
            c.publish(topics[sent % len(topics)], json.dumps(body), qos=0)
            sent += 1
        ahead = sent / rate - (time.perf_counter() - t0)
        if ahead > 0:
            time.sleep(ahead)
    elapsed = time.perf_counter() - t0
    time.sleep(0.5)
    c.loop_stop()
    c.disconnect()
    out.put(("sent", sent, elapsed))


def publish(
    ctx: Any, site: str, segs: list[str], rate: float, seconds: float, q: Any
) -> tuple[int, float]:
    """Offer ``rate`` msg/s from PUBLISHERS processes, each a share of the segments."""
    k = PUBLISHERS
    procs = [ctx.Process(target=publisher, args=(site, segs[j::k], rate / k, seconds, q))
             for j in range(k)]  # fmt: skip
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    return sum(g[1] for g in got), max(g[2] for g in got)


def counter(site: str, seconds: float, out: Any) -> None:
    """Peer: a bare subscriber that only counts telemetry messages."""
    c = _client("bench-count", PEER_LOGIN)
    n = [0]
    c.on_message = lambda *_: n.__setitem__(0, n[0] + 1)
    c.subscribe(f"ersgrid/{site}/segment/+/telemetry", qos=0)
    c.loop_start()
    out.put(("ready", 0, 0.0))
    time.sleep(seconds)
    c.loop_stop()
    out.put(("counted", n[0], seconds))


def device_fleet(site: str, seg_ids: list[str], seconds: float, out: Any) -> None:
    """1,000 devices at 1 Hz; measure publish → setpoint with in_reply_to."""
    c = _client("bench-fleet")
    sent_at: dict[int, float] = {}
    lat: list[float] = []

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        seq = json.loads(msg.payload).get("in_reply_to")
        t = sent_at.pop(seq, None) if seq is not None else None
        if t is not None:
            lat.append(time.perf_counter() - t)

    c.on_message = on_message
    c.subscribe(f"ersgrid/{site}/segment/+/setpoint", qos=0)
    c.loop_start()
    time.sleep(0.5)
    n = len(seg_ids)
    t0 = time.perf_counter()
    seq = 0
    while time.perf_counter() - t0 < seconds:
        for k in range(n):  # each device once a second, evenly spread
            due = t0 + seq / n
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body = {"ts": CLOCK_TS, "seq": seq, "power_kw": 100.0}
            sent_at[seq] = time.perf_counter()
            c.publish(f"ersgrid/{site}/segment/{seg_ids[k]}/telemetry", json.dumps(body), qos=0)
            seq += 1
    time.sleep(1.0)
    c.loop_stop()
    out.put(("latency", lat, seq))


def api_client(base: str, seconds: float, out: Any) -> None:
    """Second process: 8 threads of GET/POST requests; latencies per endpoint."""
    import httpx

    paths = ["/api/health", "/api/state", "/api/plan", "/api/alarms?limit=50", "POST /api/alarms"]
    results: dict[str, list[float]] = {p: [] for p in paths}
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            i = k
            while time.perf_counter() < stop:
                path = paths[i % len(paths)]
                t = time.perf_counter()
                if path.startswith("POST"):
                    r = client.post(
                        "/api/alarms", json={"message": f"bench {i}", "severity": "info"}
                    )
                else:
                    r = client.get(path)
                dt_s = time.perf_counter() - t
                if r.status_code < 300:
                    with lock:
                        results[path].append(dt_s)
                i += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(("api", results, seconds))


API_PATHS = ["/api/health", "/api/state", "/api/plan", "/api/alarms?limit=50",
             "POST /api/alarms"]  # fmt: skip


def api_concurrent(
    base: str, seconds: float, login: tuple[str, str] | None, concurrency: int, out: Any
) -> None:
    """Second process: ``concurrency`` requests in flight; latencies per endpoint.

    Each of ``concurrency`` keep-alive connections sends its next request as soon as the
    previous answer is read (HTTP/1.1 over asyncio streams: a generic client such as httpx
    spends a whole core on 100 requests/s at this concurrency and would measure itself).
    With ``login`` (user, password) it gets a token first and sends it with every request.
    """
    import asyncio
    from urllib.parse import urlsplit

    import httpx

    url = urlsplit(base)
    host, port = url.hostname or HOST, url.port or 80
    auth_line = ""
    if login is not None:
        r = httpx.post(f"{base}/api/token", data={"username": login[0], "password": login[1]})
        auth_line = f"Authorization: Bearer {r.json()['access_token']}\r\n"

    def request(path: str, i: int) -> bytes:
        head = f"Host: {host}:{port}\r\n{auth_line}"
        if path.startswith("POST"):
            body = json.dumps({"message": f"bench {i}", "severity": "info"}).encode()
            return (f"POST /api/alarms HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip
        return f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()

    async def run() -> tuple[dict[str, list[float]], dict[int, int]]:
        results: dict[str, list[float]] = {p: [] for p in API_PATHS}
        codes: dict[int, int] = {}
        stop = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            reader, writer = await asyncio.open_connection(host, port)
            i = k
            while time.perf_counter() < stop:
                path = API_PATHS[i % len(API_PATHS)]
                t = time.perf_counter()
                writer.write(request(path, i))
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length = next(int(x.split(":", 1)[1]) for x in lines
                              if x.lower().startswith("content-length:"))  # fmt: skip
                await reader.readexactly(length)
                dt_s = time.perf_counter() - t
                codes[status] = codes.get(status, 0) + 1
                if status < 300:
                    results[path].append(dt_s)
                i += 1
            writer.close()

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return results, codes

    c0 = time.process_time()
    results, codes = asyncio.run(run())
    out.put(("api", (results, codes), time.process_time() - c0))


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000.0 if values else float("nan")


def _corridor() -> Any:
    from ersgrid.scenario.loader import load_scenario

    sc = load_scenario("shin-tomei")
    road = sc.road.model_copy(
        update={
            "sections": [s.model_copy(update={"segment_length_m": 80}) for s in sc.road.sections]
        }
    )
    return sc.model_copy(update={"road": road})


def main() -> int:
    from ersgrid.service.live import LiveLoop
    from ersgrid.service.mqtt import MqttBridge
    from ersgrid.service.server import freeze_startup_heap
    from ersgrid.service.storage import Store

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    sc = _corridor()
    if os.environ.get("SWITCH_MS"):
        sys.setswitchinterval(float(os.environ["SWITCH_MS"]) / 1000.0)
    print(f"interpreter switch interval: {sys.getswitchinterval() * 1000:g} ms")
    loop = LiveLoop(sc, days=1.0, speed=60.0)
    segs = loop.layout.seg_ids
    print(f"corridor: {sc.name} at 80 m segments = {len(segs)} segments, "
          f"{loop.layout.n_substations} substations")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="ersgrid-bench-"))
    ctx = mp.get_context("fork")
    q: Any = ctx.Queue()

    site = f"bench-{os.getpid()}"
    global PORT, LOGIN, PEER_LOGIN, CLOCK_TS
    CLOCK_TS = loop.now.timestamp()
    identities, broker = None, None
    if SECURED:
        identities, broker = _secured_broker(
            tmp / "mqtt", [site, *(f"{site}-w{w}" for w in INGEST_WORKERS),
                           *(f"{site}-peer{r}" for r in INGEST_RATES)], segs,
        )  # fmt: skip
        assert identities.twin is not None
        LOGIN = (identities.twin.username, identities.twin.password)
        PEER_LOGIN = (identities.service.username, identities.service.password)
        print(f"MQTT identities: own Mosquitto on {HOST}:{PORT}, no anonymous clients, "
              f"service logs in as {identities.service.username}, publishers as "
              f"{identities.twin.username}")  # fmt: skip
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    store = Store(db_url, batch_rows=20_000, flush_s=0.2)
    store.start()
    if 1 in SECTIONS:
        ingest(ctx, q, loop, site, segs, store, db_url, identities)
    bridge = MqttBridge(loop, f"mqtt://{HOST}:{PORT}", site, store, stale_after_s=600,
                        refresh_s=0.0 if LIVE_WORKERS else 1.0, publish_twin=False,
                        workers=LIVE_WORKERS, db_url=db_url,
                        identities=identities)  # fmt: skip
    print(
        "sections 2-4: telemetry answered "
        + (f"by {LIVE_WORKERS} ingest processes" if LIVE_WORKERS else "in the service process")
    )
    bridge.start()
    if os.environ.get("FREEZE", "1") == "1":  # as `ersgrid serve` does before the loop starts
        print(f"start-up heap frozen: {freeze_startup_heap():,} objects")
    loop.start()  # from here on the twin runs at x60 beside the bridge
    if 2 in SECTIONS:
        latency(ctx, q, site, segs, bridge)
    if 3 in SECTIONS:
        api_threads(ctx, q, loop, site, segs, bridge, store, tmp)
    if 4 in SECTIONS:
        auth_on_off(ctx, q, loop, site, segs, bridge, store, tmp)
    loop.stop()
    bridge.stop()
    store.stop()
    print(f"\nlive loop during the benchmark: {loop.ticks} ticks, lag {loop.lag_s:.0f} s of "
          f"scenario time, observer errors {loop.observer_errors}")  # fmt: skip
    if broker is not None:
        broker.terminate()
        broker.wait(10)
    return 0


def ingest(ctx: Any, q: Any, loop: Any, site: str, segs: list[str], store: Any,
           db_url: str, identities: Any) -> None:  # fmt: skip
    """Section 1: ingest rates, in the service process and in ingest processes."""
    from ersgrid.service.mqtt import MqttBridge

    print(f"\n[1] ingest through Mosquitto into SQLite, {len(segs)} segments, live loop paused, "
          f"{INGEST_S:g} s per rate; peer = bare paho subscriber that only counts")  # fmt: skip
    print("    ingest processes | offered msg/s | peer counted | accepted | rows committed/s")
    peer_share: dict[int, float] = {}
    for workers in INGEST_WORKERS:
        wsite = f"{site}-w{workers}"
        bridge = MqttBridge(loop, f"mqtt://{HOST}:{PORT}", wsite, store, stale_after_s=600,
                            refresh_s=1.0, publish_twin=False, workers=workers,
                            db_url=db_url, identities=identities)  # fmt: skip
        bridge.start()
        for rate in INGEST_RATES:
            if rate not in peer_share:  # peer first, same offered load, its own topics
                psite = f"{site}-peer{rate}"
                peer = ctx.Process(target=counter, args=(psite, INGEST_S * 1.6 + 3, q))
                peer.start()
                assert q.get(timeout=20)[0] == "ready"
                psent, _ = publish(ctx, psite, segs, rate, INGEST_S, q)
                _, counted, _ = q.get(timeout=120)
                peer.join()
                peer_share[rate] = counted / psent
            a0, c0 = bridge.status()["accepted"], store.count()
            t0 = time.perf_counter()
            sent, pub_s = publish(ctx, wsite, segs, rate, INGEST_S, q)
            last, still = -1, time.perf_counter()
            while time.perf_counter() - still < 1.0:  # until nothing more arrives for 1 s
                now_accepted = bridge.status()["accepted"]
                if now_accepted != last:
                    last, still = now_accepted, time.perf_counter()
                time.sleep(0.05)
            while store.pending():
                time.sleep(0.05)
            time.sleep(0.5)  # the workers' writers flush every 0.2 s
            t1 = still
            accepted, written = bridge.status()["accepted"] - a0, store.count() - c0
            print(f"    {workers or 'in the service':>16} | {sent / pub_s:13,.0f} | "
                  f"{peer_share[rate]:12.1%} | {accepted / sent:8.1%} | "
                  f"{written / (t1 - t0):16,.0f}")  # fmt: skip
        status = bridge.status()
        bridge.stop()
    print(f"    rejected {status['rejected']}; write errors {store.write_errors}")


def latency(ctx: Any, q: Any, site: str, segs: list[str], bridge: Any) -> None:
    """Section 2: telemetry -> setpoint latency."""
    bridge.refresh_s = 0.0  # answer every message
    fleet = ctx.Process(target=device_fleet, args=(site, segs, 10.0, q))
    fleet.start()
    _, lat, n_sent = q.get(timeout=120)
    fleet.join()
    print(f"\n[2] telemetry in → setpoint out, {len(segs)} segments at 1 Hz, loop running x60 "
          "(two broker hops):")  # fmt: skip
    print(f"    {len(lat):,} of {n_sent:,} answered; p50 {_pct(lat, 50):.1f} ms, "
          f"p99 {_pct(lat, 99):.1f} ms, max {_pct(lat, 100):.1f} ms")  # fmt: skip
    bridge.refresh_s = 1.0


def api_threads(ctx: Any, q: Any, loop: Any, site: str, segs: list[str], bridge: Any,
                store: Any, tmp: Path) -> None:  # fmt: skip
    """Section 3: the API from 8 threads (authentication off)."""
    import uvicorn

    from ersgrid.service.app import Service, create_app
    from ersgrid.service.studies import Studies

    service = Service(
        loop=loop, studies=Studies(tmp / "runs"), extras={"mqtt": bridge, "storage": store}
    )
    sock_port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host=HOST, port=sock_port,
                                           log_level="warning"))  # fmt: skip
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)
    fleet = ctx.Process(target=device_fleet, args=(site, segs, API_S, q))
    fleet.start()
    client = ctx.Process(target=api_client, args=(f"http://{HOST}:{sock_port}", API_S, q))
    client.start()
    outs = [q.get(timeout=120) for _ in range(2)]
    client.join()
    fleet.join()
    results = next(v for k, v, _ in outs if k == "api")
    print(f"\n[3] API from a second process, 8 threads, {API_S:g} s, while the loop runs x60 "
          f"and 1,000 devices report at 1 Hz:")  # fmt: skip
    for path, values in results.items():
        print(f"    {path:24s} {len(values) / API_S:7.1f} req/s  p50 {_pct(values, 50):7.1f} ms  "
              f"p99 {_pct(values, 99):7.1f} ms")  # fmt: skip
    server.should_exit = True
    th.join(10)


def auth_on_off(ctx: Any, q: Any, loop: Any, site: str, segs: list[str], bridge: Any,
                store: Any, tmp: Path) -> None:  # fmt: skip
    """Section 4: 200 requests in flight and telemetry -> setpoint, authentication off, on."""
    import uvicorn

    from ersgrid.service.app import Service, create_app
    from ersgrid.service.auth import Auth
    from ersgrid.service.studies import Studies

    print(f"\n[4] {CONCURRENCY} API requests in flight from a second process, {API_S:g} s, "
          f"while 1,000 devices report at 1 Hz (setpoint answered to each), auth off then on;"
          " peer = /api/health (no credential either way)")  # fmt: skip
    password = "bench-operator-password"
    auth = Auth(store)
    if store.get_user("bench") is None:
        auth.add_user("bench", "operator", password)
    bridge.refresh_s = 0.0
    for label, svc_auth in (("off", None), ("on", auth)):
        service = Service(loop=loop, studies=Studies(tmp / f"runs-{label}"),
                          extras={"mqtt": bridge, "storage": store}, auth=svc_auth)  # fmt: skip
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(service), host=HOST, port=port,
                                               log_level="warning", backlog=4096))  # fmt: skip
        th = threading.Thread(target=server.run, daemon=True)
        th.start()
        while not server.started:
            time.sleep(0.05)
        login = ("bench", password) if svc_auth is not None else None
        c0 = time.process_time()
        fleet = ctx.Process(target=device_fleet, args=(site, segs, API_S, q))
        fleet.start()
        base = f"http://{HOST}:{port}"
        client = ctx.Process(target=api_concurrent,
                             args=(base, API_S, login, CONCURRENCY, q))  # fmt: skip
        client.start()
        outs = [q.get(timeout=300) for _ in range(2)]
        client.join()
        fleet.join()
        cpu_s = time.process_time() - c0
        (results, codes), client_cpu_s = next((v, c) for k, v, c in outs if k == "api")
        _, lat, n_sent = next(o for o in outs if o[0] == "latency")
        print(
            f"    auth {label}: service CPU {cpu_s:.1f} s, client CPU {client_cpu_s:.1f} s; "
            f"status codes {dict(sorted(codes.items()))}"
        )
        for path, values in results.items():
            print(f"      {path:24s} {len(values) / API_S:7.1f} req/s  p50 "
                  f"{_pct(values, 50):7.1f} ms  p99 {_pct(values, 99):7.1f} ms")  # fmt: skip
        print(f"      telemetry -> setpoint: {len(lat):,} of {n_sent:,} answered; p50 "
              f"{_pct(lat, 50):.1f} ms, p99 {_pct(lat, 99):.1f} ms")  # fmt: skip
        server.should_exit = True
        th.join(10)
        service.studies.shutdown()
    bridge.refresh_s = 1.0


def _secured_broker(folder: Path, sites: list[str], segs: list[str]) -> tuple[Any, Any]:
    """Mosquitto on a free port with the identities of ``ersgrid mqtt-credentials``; the ACL
    covers every site the benchmark uses. Sets ``PORT``; returns (identities, process)."""
    import subprocess

    from ersgrid.service.mqtt_auth import Identities, acl_text, write_credentials

    global PORT
    PORT = _free_port()
    folder.parent.chmod(0o711)  # the broker's own user passes through when it drops root
    root = os.geteuid() == 0
    write_credentials(folder, sites[0], segs, HOST, PORT, broker_user="mosquitto" if root else None)
    (folder / "acl").write_text("\n".join(acl_text(s, segs) for s in sites))
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(folder / "mosquitto.conf")], stderr=subprocess.DEVNULL
    )
    import socket

    for _ in range(200):
        try:
            socket.create_connection((HOST, PORT), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    return Identities.from_dir(folder), proc


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


if __name__ == "__main__":
    sys.exit(main())
