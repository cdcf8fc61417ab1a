"""Telemetry and setpoints through the real Mosquitto broker on 127.0.0.1:1883 (in CI)."""

from __future__ import annotations

import json
import queue
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import IN_CI
from ersgrid.scenario.schema import Scenario
from ersgrid.service.live import LiveLoop
from ersgrid.service.mqtt import MqttBridge, Rejected, parse_telemetry
from ersgrid.service.storage import Store

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
    """A segment power unit speaking to the service through the broker."""

    def __init__(self, site: str, segment: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.topic = f"ersgrid/{site}/segment/{segment}/telemetry"
        self.setpoints: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"dev-{segment}-{id(self)}"
        )
        self.client.on_message = lambda _c, _u, msg: self.setpoints.put(json.loads(msg.payload))
        self.client.connect("127.0.0.1", 1883)
        self.client.subscribe(f"ersgrid/{site}/segment/{segment}/setpoint", qos=0)
        self.client.loop_start()
        time.sleep(0.2)  # let the subscription settle

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
    dev = Device(bridge.site, seg)
    dev.send(_good(seq=41, power_kw=80.0))
    sp = dev.next_setpoint(lambda s: s["in_reply_to"] == 41)
    assert sp["limit_kw"] == 250.0
    assert sp["reason"] == "dispatch"
    bad = [b"garbage", _good(power_kw=1e6), _good(power_kw="x"), b'{"ts": 1, "power_kw": NaN}']
    for payload in bad:
        dev.send(payload)
    dev.send(_good(), topic=f"ersgrid/{bridge.site}/segment/Z-9-999/telemetry")
    dev.send(_good(seq=42, power_kw=90.0))
    dev.next_setpoint(lambda s: s["in_reply_to"] == 42)
    _wait(lambda: bridge.store is not None and bridge.store.rows_written == 2)
    assert bridge.status()["rejected"] == {
        "malformed": 1, "out_of_range": 2, "schema": 1, "unknown_segment": 1,
    }  # fmt: skip
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
    dev = Device(bridge.site, seg)
    dev.send(_good(seq=1))
    dev.next_setpoint(lambda s: s["in_reply_to"] == 1)
    t0 = time.monotonic()
    safe = dev.next_setpoint(lambda s: s["reason"] == "safe", timeout=5)
    assert 0.5 < time.monotonic() - t0 < 2.0  # stale after 0.6 s of silence
    assert safe["limit_kw"] == 0.0
    assert loop.alarms.is_active("device_stale", seg)
    assert i in loop.safe_segments
    powers = [rep.seg_power_kw[i] for _ in range(40) if (rep := loop.tick()) is not None]
    assert max(powers) == 0.0
    dev.send(_good(seq=2))
    back = dev.next_setpoint(lambda s: s["in_reply_to"] == 2 or s["reason"] == "dispatch")
    assert back["limit_kw"] == 250.0
    assert not loop.alarms.is_active("device_stale", seg)
    assert i not in loop.safe_segments
    dev.close()


@needs_broker
def test_dr_event_reaches_devices_as_shared_setpoints(bridge: MqttBridge) -> None:
    loop = bridge.loop
    devs = [Device(bridge.site, sid) for sid in loop.layout.seg_ids]
    for k, dev in enumerate(devs):
        dev.send(_good(seq=k))
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
    dev = Device(site, seg)
    try:
        for k in range(200):
            dev.send(_good(seq=k, power_kw=float(k % 200)))
        dev.send(b"garbage")
        replies = [dev.next_setpoint(lambda s, k=k: s["in_reply_to"] == k) for k in (0, 199)]
        assert all(r["limit_kw"] == 250.0 for r in replies)
        _wait(lambda: b.status()["accepted"] == 200)
        assert b.status()["rejected"] == {"malformed": 1}
        # silence: the service process sees it through the shared last-seen times
        safe = dev.next_setpoint(lambda s: s["reason"] == "safe", timeout=5)
        assert safe["limit_kw"] == 0.0
        assert loop.alarms.is_active("device_stale", seg)
        dev.send(_good(seq=500))
        _wait(lambda: not loop.alarms.is_active("device_stale", seg))
    finally:
        dev.close()
        b.stop()
    assert store.count() == 201  # both workers wrote to the one database
    assert len(store.recent_telemetry(seg, limit=1000)) == 201
