"""Telemetry and setpoints through the real Mosquitto broker on 127.0.0.1:1883 (in CI)."""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import IN_CI
from ersgrid.errors import ServiceError
from ersgrid.scenario.schema import Scenario
from ersgrid.service.live import LiveLoop
from ersgrid.service.mqtt import MqttBridge, Rejected, parse_telemetry
from ersgrid.service.mqtt_auth import Credential, Identities, write_credentials
from ersgrid.service.storage import Store
from mqtt_broker import SecuredBroker

BROKER = "mqtt://127.0.0.1:1883"


def _good(**over: Any) -> bytes:
    body = {"ts": 2e9, "seq": 1, "power_kw": 120.0, "energy_kwh": 5.0, "temperature_c": 30.0}
    body.update(over)
    return json.dumps(body).encode()


def test_parse_accepts_a_good_message() -> None:
    assert parse_telemetry(_good(), 250.0) == (2e9, 1, 120.0, 5.0, 30.0)
    assert parse_telemetry(b'{"ts": 1, "power_kw": -10}', 250.0) == (1.0, None, -10.0, None, None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "malformed"),
        (b"not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (b'{"ts": 1}', "schema"),
        (_good(power_kw="120"), "schema"),
        (_good(power_kw=True), "schema"),
        (_good(seq=-1), "schema"),
        (_good(power_kw=301.0), "out_of_range"),
        (_good(temperature_c=900), "out_of_range"),
        (_good(energy_kwh=-1), "out_of_range"),
        (_good(ts=-5), "out_of_range"),
        (b'{"ts": 1, "power_kw": NaN}', "out_of_range"),
    ],
)
def test_parse_rejects_by_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as err:
        parse_telemetry(payload, 250.0)
    assert err.value.reason == reason


def _broker_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
    except OSError:
        return False
    return True


needs_broker = pytest.mark.skipif(
    not IN_CI, reason="Mosquitto tests run in CI (CI=true) against 127.0.0.1:1883"
)


class Device:
    """A segment power unit speaking to the service through the broker.

    ``clock`` is the service's clock (the live loop's time): :meth:`good` stamps with it.
    """

    def __init__(
        self,
        site: str,
        segment: str,
        clock: Callable[[], float],
        port: int = 1883,
        credential: Credential | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.clock = clock
        self.topic = f"ersgrid/{site}/segment/{segment}/telemetry"
        self.setpoints: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"dev-{segment}-{id(self)}"
        )
        if credential is not None:
            self.client.username_pw_set(credential.username, credential.password)
        self.client.on_message = lambda _c, _u, msg: self.setpoints.put(json.loads(msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"ersgrid/{site}/segment/{segment}/setpoint", qos=0)
        self.client.loop_start()
        time.sleep(0.2)  # let the subscription settle

    def good(self, **over: Any) -> bytes:
        """A valid telemetry payload stamped with the service clock."""
        return _good(**{"ts": self.clock(), **over})

    def send(self, payload: bytes, topic: str | None = None) -> None:
        self.client.publish(topic or self.topic, payload, qos=0).wait_for_publish(5)

    def next_setpoint(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                sp = self.setpoints.get(timeout=0.1)
            except queue.Empty:
                continue
            if pred(sp):
                return sp
        raise AssertionError("no matching setpoint arrived")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _clock(loop: LiveLoop) -> Callable[[], float]:
    return lambda: loop.now.timestamp()


def _wait(cond: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def bridge(tiny: Scenario, tmp_path: Path) -> Iterator[MqttBridge]:
    if IN_CI:
        assert _broker_up(), "CI needs Mosquitto on 127.0.0.1:1883"
    loop = LiveLoop(tiny, days=1.0)
    store = Store(f"sqlite:///{tmp_path / 'mqtt.db'}", flush_s=0.05)
    store.attach(loop, twin_telemetry=False)
    site = f"test-{time.monotonic_ns()}"  # topics of this test only
    b = MqttBridge(loop, BROKER, site, store, stale_after_s=0.6, refresh_s=0.0, publish_twin=False)
    store.start()
    b.start()
    yield b
    b.stop()
    store.stop()


@needs_broker
def test_telemetry_in_setpoint_out_and_stored(bridge: MqttBridge) -> None:
    loop, seg = bridge.loop, bridge.loop.layout.seg_ids[3]
    loop.run_for(60)
    dev = Device(bridge.site, seg, _clock(loop))
    dev.send(dev.good(seq=41, power_kw=80.0))
    sp = dev.next_setpoint(lambda s: s["in_reply_to"] == 41)
    assert sp["limit_kw"] == 250.0
    assert sp["reason"] == "dispatch"
    bad = [b"garbage", dev.good(power_kw=1e6), dev.good(power_kw="x"),
           b'{"ts": 1, "power_kw": NaN}', dev.good(ts=1e15), b" " * 5000]  # fmt: skip
    for payload in bad:
        dev.send(payload)
    dev.send(dev.good(), topic=f"ersgrid/{bridge.site}/segment/Z-9-999/telemetry")
    dev.send(dev.good(seq=42, power_kw=90.0))
    dev.next_setpoint(lambda s: s["in_reply_to"] == 42)
    _wait(lambda: bridge.store is not None and bridge.store.rows_written == 2)
    assert bridge.status()["rejected"] == {
        "malformed": 1, "out_of_range": 2, "schema": 1, "unknown_segment": 1,
        "out_of_window": 1, "too_large": 1,
    }  # fmt: skip
    status = bridge.status()  # what the dashboard says in words
    assert status["segments"] == loop.layout.n_segments
    assert 0 <= status["last_message_s_ago"] < 10
    assert bridge.accepted == 2
    assert bridge.store is not None
    assert [r["power_kw"] for r in bridge.store.recent_telemetry(seg)] == [90.0, 80.0]
    assert loop.run_for(60) == 4  # the loop is untouched by what arrived
    dev.close()


@needs_broker
def test_stale_device_goes_to_safe_limit_and_recovers(bridge: MqttBridge) -> None:
    loop = bridge.loop
    i = 5
    seg = loop.layout.seg_ids[i]
    loop.run_for(8 * 3600)  # morning: vehicles want power
    dev = Device(bridge.site, seg, _clock(loop))
    dev.send(dev.good(seq=1))
    dev.next_setpoint(lambda s: s["in_reply_to"] == 1)
    t0 = time.monotonic()
    safe = dev.next_setpoint(lambda s: s["reason"] == "safe", timeout=5)
    assert 0.5 < time.monotonic() - t0 < 2.0  # stale after 0.6 s of silence
    assert safe["limit_kw"] == 0.0
    assert loop.alarms.is_active("device_stale", seg)
    assert i in loop.safe_segments
    powers = [rep.seg_power_kw[i] for _ in range(40) if (rep := loop.tick()) is not None]
    assert max(powers) == 0.0
    dev.send(dev.good(seq=2))
    back = dev.next_setpoint(lambda s: s["in_reply_to"] == 2 or s["reason"] == "dispatch")
    assert back["limit_kw"] == 250.0
    assert not loop.alarms.is_active("device_stale", seg)
    assert i not in loop.safe_segments
    dev.close()


@needs_broker
def test_dr_event_reaches_devices_as_shared_setpoints(bridge: MqttBridge) -> None:
    loop = bridge.loop
    devs = [Device(bridge.site, sid, _clock(loop)) for sid in loop.layout.seg_ids]
    for k, dev in enumerate(devs):
        dev.send(dev.good(seq=k))
        dev.next_setpoint(lambda s: s["reason"] == "dispatch")
    start = loop.now + pd.Timedelta(minutes=1)
    loop.dr.create(start, start + pd.Timedelta(hours=1), 260.0)
    loop.run_for(120)
    got = [dev.next_setpoint(lambda s: s["reason"] == "dr") for dev in devs]
    # the road gets what the cap leaves after the service area's load and local generation
    en, k = loop.context.energy, loop.plan_step
    room = max(260.0 - en.other_load_kw[k, 0] + en.renewable_kw[k, 0], 0.0)
    assert sum(sp["limit_kw"] for sp in got) == pytest.approx(min(room, 1200.0), abs=0.05)
    for dev in devs:
        dev.close()


@needs_broker
def test_twin_devices_publish_through_the_broker(tiny: Scenario, tmp_path: Path) -> None:
    loop = LiveLoop(tiny, days=1.0)
    store = Store(f"sqlite:///{tmp_path / 'twin.db'}", flush_s=0.05)
    store.attach(loop, twin_telemetry=False)
    b = MqttBridge(loop, BROKER, f"twin-{time.monotonic_ns()}", store, stale_after_s=30)
    store.start()
    b.start()
    try:
        loop.run_for(600)  # 40 ticks x 8 segments
        _wait(lambda: b.accepted == 40 * loop.layout.n_segments)
        _wait(lambda: store.rows_written == 40 * loop.layout.n_segments)
        assert b.status()["rejected"] == {}
        assert b.status()["devices"] == loop.layout.n_segments
    finally:
        b.stop()
        store.stop()


@needs_broker
def test_ingest_worker_processes_share_the_topic(tiny: Scenario, tmp_path: Path) -> None:
    loop = LiveLoop(tiny, days=1.0)
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    store = Store(url)
    site = f"workers-{time.monotonic_ns()}"
    b = MqttBridge(loop, BROKER, site, store, stale_after_s=1.0, refresh_s=0.0,
                   publish_twin=False, workers=2, db_url=url)  # fmt: skip
    b.start()
    seg = loop.layout.seg_ids[2]
    dev = Device(site, seg, _clock(loop))
    try:
        for k in range(200):
            dev.send(dev.good(seq=k, power_kw=float(k % 200)))
        dev.send(b"garbage")
        dev.send(dev.good(ts=1e15))
        replies = [dev.next_setpoint(lambda s, k=k: s["in_reply_to"] == k) for k in (0, 199)]
        assert all(r["limit_kw"] == 250.0 for r in replies)
        _wait(lambda: b.status()["accepted"] == 200)
        assert b.status()["rejected"] == {"malformed": 1, "out_of_window": 1}
        # silence: the service process sees it through the shared last-seen times
        safe = dev.next_setpoint(lambda s: s["reason"] == "safe", timeout=5)
        assert safe["limit_kw"] == 0.0
        assert loop.alarms.is_active("device_stale", seg)
        dev.send(dev.good(seq=500))
        _wait(lambda: not loop.alarms.is_active("device_stale", seg))
    finally:
        dev.close()
        b.stop()
    assert store.count() == 201  # both workers wrote to the one database
    assert b.status()["committed"] == 201  # and say so: each counts its committed rows
    assert len(store.recent_telemetry(seg, limit=1000)) == 201


# ---- the telemetry window and the size cap ----------------------------------------------
CLOCK = 2_059_000_000.0  # a service clock [s since epoch]


@pytest.mark.parametrize(
    ("ts", "ok"),
    [(CLOCK, True), (CLOCK + 3600, True), (CLOCK - 3600, True), (CLOCK + 3601, False),
     (CLOCK - 3601, False), (1e15, False), (1.0, False)],
)  # fmt: skip
def test_window_around_the_service_clock(ts: float, ok: bool) -> None:
    payload = _good(ts=ts)
    if ok:
        assert parse_telemetry(payload, 250.0, CLOCK)[0] == ts
        return
    with pytest.raises(Rejected) as err:
        parse_telemetry(payload, 250.0, CLOCK)
    assert err.value.reason == "out_of_window"


@given(
    offset_s=st.floats(-1e7, 1e7, allow_nan=False),
    window_s=st.floats(1.0, 1e6, allow_nan=False),
)
def test_window_takes_exactly_what_lies_inside(offset_s: float, window_s: float) -> None:
    payload = _good(ts=CLOCK + offset_s)
    ts = json.loads(payload)["ts"]
    inside = abs(ts - CLOCK) <= window_s
    if inside:
        assert parse_telemetry(payload, 250.0, CLOCK, window_s)[0] == ts
        return
    with pytest.raises(Rejected) as err:
        parse_telemetry(payload, 250.0, CLOCK, window_s)
    assert err.value.reason == "out_of_window"


def test_payload_size_is_capped() -> None:
    padded = json.loads(_good())
    padded["note"] = "x" * 5000  # unknown keys are ignored, but not at any size
    with pytest.raises(Rejected) as err:
        parse_telemetry(json.dumps(padded).encode(), 250.0)
    assert err.value.reason == "too_large"
    assert parse_telemetry(_good(), 250.0, max_bytes=len(_good()))[0] == 2e9


# ---- identities -------------------------------------------------------------------------
def test_credentials_are_random_private_and_scoped(tmp_path: Path) -> None:
    seg_ids = ["A-0-000", "A-0-001"]
    write_credentials(tmp_path / "c", "site1", seg_ids)
    write_credentials(tmp_path / "d", "site1", seg_ids)
    c = tmp_path / "c"
    for name in ["passwd", "acl", "service.json", "twin.json", "devices/A-0-001.json"]:
        assert (c / name).stat().st_mode & 0o777 == 0o600, name
    dev = json.loads((c / "devices/A-0-001.json").read_text())
    other = json.loads((tmp_path / "d/devices/A-0-001.json").read_text())
    assert dev["username"] == other["username"] == "device-A-0-001"
    assert dev["password"] != other["password"]  # random each time
    assert dev["telemetry_topic"] == "ersgrid/site1/segment/A-0-001/telemetry"
    # the password file holds Mosquitto's PBKDF2-SHA512 hash of exactly that password
    line = next(
        x for x in (c / "passwd").read_text().splitlines() if x.startswith("device-A-0-001:")
    )
    _, _, iterations, salt, digest = line.split(":", 1)[1].split("$")
    assert base64.b64encode(
        hashlib.pbkdf2_hmac("sha512", dev["password"].encode(), base64.b64decode(salt),
                            int(iterations))
    ).decode() == digest  # fmt: skip
    acl = (c / "acl").read_text().split("\n\n")
    block = next(b for b in acl if "user device-A-0-001" in b)
    assert block.splitlines()[1:] == [
        "topic write ersgrid/site1/segment/A-0-001/telemetry",
        "topic read ersgrid/site1/segment/A-0-001/setpoint",
    ]
    conf = (c / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    assert "listener 1883 127.0.0.1" in conf
    with pytest.raises(ServiceError, match="already holds"):
        write_credentials(c, "site1", seg_ids)
    with pytest.raises(ServiceError, match="site"):
        write_credentials(tmp_path / "e", "bad/site", seg_ids)


def _client(port: int, cred: Credential | None, name: str) -> tuple[Any, queue.Queue[Any]]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    answers: queue.Queue[Any] = queue.Queue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{time.monotonic_ns()}")
    if cred is not None:
        c.username_pw_set(cred.username, cred.password)
    c.on_connect = lambda _c, _u, _f, reason, _p: answers.put(reason)
    c.reconnect_delay_set(30, 60)  # one attempt in the test's time
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, answers


@pytest.fixture
def secured(tiny: Scenario, mqtt_broker: SecuredBroker, tmp_path: Path) -> Iterator[MqttBridge]:
    loop = LiveLoop(tiny, days=1.0)
    store = Store(f"sqlite:///{tmp_path / 'secured.db'}", flush_s=0.05)
    store.attach(loop, twin_telemetry=False)
    b = MqttBridge(loop, mqtt_broker.url, mqtt_broker.site, store, stale_after_s=30,
                   refresh_s=0.0, publish_twin=False,
                   identities=mqtt_broker.identities)  # fmt: skip
    store.start()
    b.start()
    yield b
    b.stop()
    store.stop()


def test_each_device_speaks_only_for_itself(
    secured: MqttBridge, mqtt_broker: SecuredBroker
) -> None:
    bridge, loop = secured, secured.loop
    store = bridge.store
    assert store is not None
    a, b = loop.layout.seg_ids[1], loop.layout.seg_ids[2]
    dev_a = Device(bridge.site, a, _clock(loop), mqtt_broker.port, mqtt_broker.device(a))
    # A listens on B's setpoints too: the broker grants it nothing there
    spy: queue.Queue[str] = queue.Queue()
    dev_a.client.message_callback_add(
        f"ersgrid/{bridge.site}/segment/{b}/setpoint", lambda *_: spy.put("leak")
    )
    dev_a.client.subscribe(f"ersgrid/{bridge.site}/segment/{b}/setpoint")
    dev_b = Device(bridge.site, b, _clock(loop), mqtt_broker.port, mqtt_broker.device(b))
    dev_a.send(dev_a.good(seq=1))
    assert dev_a.next_setpoint(lambda s: s["in_reply_to"] == 1)["limit_kw"] == 250.0
    dev_a.send(dev_a.good(seq=2, power_kw=77.0), topic=dev_b.topic)  # A forges B's telemetry
    dev_b.send(dev_b.good(seq=3, power_kw=55.0))
    assert dev_b.next_setpoint(lambda s: s["in_reply_to"] == 3)["limit_kw"] == 250.0
    _wait(lambda: store.rows_written == 2)
    time.sleep(0.3)
    assert bridge.accepted == 2
    assert [r["power_kw"] for r in store.recent_telemetry(b)] == [55.0]  # not the forgery
    assert spy.empty()
    assert "Denied PUBLISH" not in bridge.status()["rejected"]
    dev_a.close()
    dev_b.close()


def test_unknown_clients_are_refused_and_counted(
    secured: MqttBridge, mqtt_broker: SecuredBroker
) -> None:
    port = mqtt_broker.port
    seg = secured.loop.layout.seg_ids[0]
    good = mqtt_broker.device(seg)
    tries = {
        "anonymous": None,
        "wrong password": Credential(good.username, good.password + "x"),
        "unknown user": Credential("device-Z-9-999", "guess"),
    }
    clients = []
    for name, cred in tries.items():
        c, answers = _client(port, cred, name.replace(" ", "-"))
        clients.append(c)
        reason = answers.get(timeout=5)
        assert reason.is_failure, name
        assert "authori" in str(reason).lower(), (name, str(reason))
    c, answers = _client(port, good, "good")
    clients.append(c)
    assert not answers.get(timeout=5).is_failure
    _wait(lambda: secured.status()["refused_connections"] == 3)
    assert secured.status()["authenticated"]
    for c in clients:
        c.loop_stop()
        c.disconnect()


def test_twin_devices_log_in_and_a_bad_twin_is_counted(
    tiny: Scenario, mqtt_broker: SecuredBroker, tmp_path: Path
) -> None:
    loop = LiveLoop(tiny, days=1.0)
    store = Store(f"sqlite:///{tmp_path / 'twin.db'}", flush_s=0.05)
    store.attach(loop, twin_telemetry=False)
    ids = mqtt_broker.identities
    b = MqttBridge(loop, mqtt_broker.url, mqtt_broker.site, store, stale_after_s=30,
                   identities=ids)  # fmt: skip
    store.start()
    b.start()
    try:
        loop.run_for(600)  # 40 ticks x 16 segments, stamped with the loop's clock
        n = 40 * loop.layout.n_segments
        _wait(lambda: b.accepted == n and store.rows_written == n)
        assert b.status()["rejected"] == {}
        assert b.status()["twin"]["connects"] == 1
    finally:
        b.stop()
        store.stop()
    assert ids.twin is not None
    forged = Identities(ids.service, Credential(ids.twin.username, "not-the-password"))
    loop2 = LiveLoop(tiny, days=1.0)
    b2 = MqttBridge(loop2, mqtt_broker.url, mqtt_broker.site, None, identities=forged)
    b2.start()
    try:
        assert b2.twin is not None
        _wait(lambda: b2.twin is not None and b2.twin.connect_refused >= 1)
        _wait(lambda: b2.status()["refused_connections"] >= 1)
        loop2.run_for(120)
        time.sleep(0.3)
        assert b2.accepted == 0  # nothing got through
    finally:
        b2.stop()
    wrong = Identities(Credential("ersgrid-service", "nope"))
    with pytest.raises(ServiceError, match="refused the service"):
        MqttBridge(loop2, mqtt_broker.url, "tiny", None, publish_twin=False,
                   identities=wrong).start()  # fmt: skip


def test_far_future_message_erases_no_history(
    secured: MqttBridge, mqtt_broker: SecuredBroker
) -> None:
    loop, store = secured.loop, secured.store
    assert store is not None
    seg = loop.layout.seg_ids[4]
    dev = Device(secured.site, seg, _clock(loop), mqtt_broker.port, mqtt_broker.device(seg))
    for k in range(30):
        dev.send(dev.good(seq=k))
        loop.run_for(120)
    dev.send(dev.good(ts=1e15, seq=99))  # far in the future
    dev.send(dev.good(seq=100))
    dev.next_setpoint(lambda s: s["in_reply_to"] == 100)
    _wait(lambda: store.rows_written == 31)
    assert secured.status()["rejected"] == {"out_of_window": 1}
    # even a far-future row already stored (written before the window existed) erases nothing:
    # retention runs by the loop's clock once an hour of scenario time
    store.add_telemetry([(1e15, 0.0, seg, 1.0, None, None, "mqtt")])
    store.flush()
    assert loop.ticks < 240 * 2
    loop.run_for(3 * 3600)  # two purges at least
    assert store.count() == 32
    # the old rule ("now" = the newest stored ts) would have deleted every real row
    store.purge(now_ts=1e15)
    assert store.count() == 1  # only the far-future row is left
    dev.close()


def test_serve_with_refused_credentials_exits_2(mqtt_broker: SecuredBroker, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ersgrid.cli import app

    creds = tmp_path / "creds"
    write_credentials(creds, "tiny", ["A-0-000"])  # another broker's passwords
    args = ["serve", "tiny", "--days", "0.25", "--no-ledger", "--data-dir", str(tmp_path / "d"),
            "--mqtt", mqtt_broker.url, "--mqtt-credentials", str(creds)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "refused the service" in result.output
    assert "--mqtt-credentials" in result.output
    missing = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "no MQTT credential file" in missing.output
