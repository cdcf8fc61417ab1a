"""The service store on SQLite and, in CI, on the real PostgreSQL server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from conftest import IN_CI
from ersgrid.scenario.schema import Scenario
from ersgrid.service.live import LiveLoop
from ersgrid.service.storage import Store

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'svc.db'}"
        return
    if not IN_CI:
        pytest.skip("PostgreSQL tests run in CI (CI=true) against 127.0.0.1:5432")
    schema = f"svc_{uuid.uuid4().hex[:10]}"  # own schema: other suites share the database
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_telemetry_batches_and_retention(db_url: str) -> None:
    store = Store(db_url, retention_days=1.0, batch_rows=1000)
    t0 = 2_000_000_000.0
    rows = [
        (t0 + k, time.time(), f"A-0-{k % 8:03d}", 10.0 + k % 7, float(k), 20.0, "mqtt")
        for k in range(5000)
    ]
    store.add_telemetry(rows[:2500])
    store.add_telemetry(rows[2500:])
    assert store.pending() == 5000
    assert store.flush() == 5000
    assert store.count() == 5000
    recent = store.recent_telemetry("A-0-003", limit=3)
    assert [r["ts"] for r in recent] == [t0 + 4995, t0 + 4987, t0 + 4979]
    assert recent[0]["power_kw"] == 10.0 + 4995 % 7
    # a day and a bit later, everything older than one day goes
    assert store.purge(t0 + 86400 + 1000) == 1000
    assert store.count() == 4000
    # "now" is the service clock, not the newest row: a row from the far future erases nothing
    store.add_telemetry([(1e15, 0.0, "A-0-000", 1.0, None, None, "mqtt")])
    store.flush()
    assert store.purge(t0 + 86400 + 1000) == 0
    assert store.count() == 4001
    assert store.purge(t0 + 86400 + 5000) == 4000  # a day after the last real row
    assert store.count() == 1
    assert store.status()["telemetry_rows_written"] == 5001
    assert store.status()["write_errors"] == 0
    store.engine.dispose()


def test_writer_thread_drains_the_buffer(db_url: str) -> None:
    store = Store(db_url, flush_s=0.05)
    store.start()
    store.add_telemetry([(1e9 + k, 0.0, "A-0-000", 1.0, None, None, "mqtt") for k in range(300)])
    deadline = time.monotonic() + 10
    while store.rows_written < 300:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    store.stop()
    assert store.count() == 300
    store.engine.dispose()


def test_loop_plans_alarms_dr_events_are_stored(db_url: str, tiny: Scenario) -> None:
    loop = LiveLoop(tiny, days=1.0)
    store = Store(db_url)
    store.attach(loop, twin_telemetry=True)
    start = pd.Timestamp("2035-04-02T01:00", tz="Asia/Tokyo")
    event = loop.dr.create(start, start + pd.Timedelta(hours=1), 100.0, None, "test")
    loop.run_for(3600)
    alarm = loop.alarms.raise_alarm("operator", "A-0-001", "check coil", "warning")
    loop.alarms.acknowledge(alarm.id, "tester")
    loop.dr.cancel(event.id)
    store.flush()
    n_seg = loop.layout.n_segments
    assert store.count() == 240 * n_seg  # one row per segment per 15 s tick
    plans = store.rows("plans")
    assert len(plans) == 4
    assert {p["strategy"] for p in plans} == {"uncontrolled"}
    (stored_alarm,) = store.rows("alarms")
    assert stored_alarm["acknowledged"]
    assert stored_alarm["acknowledged_by"] == "tester"
    (stored_event,) = store.rows("dr_events")
    assert stored_event["cancelled"]
    assert stored_event["import_limit_kw"] == 100.0
    # the stored meter readings add up to the twin's metered energy (meters err ~0.2 %)
    with store.engine.connect() as conn:
        last = conn.execute(sa.text("SELECT max(energy_kwh) FROM telemetry GROUP BY segment"))
        stored_kwh = sum(r[0] for r in last)
    true_kwh = sum(row["road_kw"] for row in loop.history) * 0.25
    assert stored_kwh == pytest.approx(true_kwh, rel=0.01)
    store.engine.dispose()


def test_retention_follows_the_loop_clock(tiny: Scenario, tmp_path: Path) -> None:
    loop = LiveLoop(tiny, days=1.0)
    store = Store(f"sqlite:///{tmp_path / 'clock.db'}", retention_days=1 / 24)
    store.attach(loop, twin_telemetry=True)
    start = loop.now.timestamp()
    store.add_telemetry([(1e15, 0.0, "A-0-000", 1.0, None, None, "mqtt")])  # far future
    for _ in range(12):  # purges once an hour of scenario time, keeping one hour
        loop.run_for(900)
        store.flush()
    with store.engine.connect() as conn:
        oldest = conn.execute(sa.text("SELECT min(ts) FROM telemetry")).scalar_one()
    n_seg = loop.layout.n_segments
    # the purge at 03:00 kept 02:00 onward; the far-future row cost no real row
    assert oldest == pytest.approx(start + 2 * 3600, abs=15)
    assert store.count() == 1 + n_seg * (1 + 240 * 1)
    store.engine.dispose()


def test_bad_url_is_a_clear_error() -> None:
    from ersgrid.errors import ServiceError

    with pytest.raises(ServiceError, match="nosuchdb"):
        Store("nosuchdb://x")
