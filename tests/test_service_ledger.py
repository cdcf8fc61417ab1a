"""The live loop meters into the ledger as it runs: blocks, settlement, anchors, verification."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ersgrid.ledger.verify import verify_ledger
from ersgrid.scenario.schema import Scenario
from ersgrid.service.app import Service, create_app
from ersgrid.service.ledger import LiveLedger
from ersgrid.service.live import LiveLoop
from ersgrid.service.studies import Studies


def test_live_loop_writes_anchors_and_verifies_its_ledger(tiny: Scenario, tmp_path: Path) -> None:
    loop = LiveLoop(tiny, days=0.125)  # 00:00-03:00
    ledger = LiveLedger(loop, tmp_path / "ledger")
    service = Service(loop=loop, studies=Studies(tmp_path / "runs"), extras={"ledger": ledger})
    client = TestClient(create_app(service))
    try:
        loop.run_for(2 * 3600 + 60)  # two hours are over
        ledger.drain()
        status = client.get("/api/ledger").json()
        passes = loop.twin.passes()
        t0_ms = loop.index[0].value // 1_000_000
        ended_ms = t0_ms + passes["end_step"].to_numpy() * loop.dt_s * 1000
        vehicle_records = int((ended_ms < t0_ms + 2 * 3600_000).sum())
        # and one connection-meter reading per step and kind with energy (import, export,
        # delivered renewables) of the two settled hours
        steps = loop.stepper.records[:8]
        readings = sum(
            int(r.import_kw[0] > 0) + int(r.export_kw[0] > 0)
            + int(loop.stepper.energy.renewable_kw[r.step, 0] - r.curtailed_kw[0] > 0)
            for r in steps
        )  # fmt: skip
        assert status["records"] == vehicle_records + readings
        assert vehicle_records > 0
        assert status["periods_settled"] == 2
        assert status["settlement_balanced"] is True
        assert status["roots_anchored"] == status["blocks"] + 2
        assert status["verified"] is True
        assert status["problem"] is None
        assert status["anchors_checked"] == status["roots_anchored"]
        last = status["last_anchor"]
        assert last["tx"].startswith("0x")
        assert len(last["tx"]) == 66
        assert last["block_number"] > 0
        while loop.tick() is not None:
            pass
        ledger.drain()
        status = client.get("/api/ledger").json()
        everything = loop.twin.passes()  # the run's end closed the open passes
        assert len(everything) > len(passes)
        assert status["records"] > len(everything)  # with the meters' readings
        assert status["periods_settled"] == 3
        assert status["verified"] is True
        assert verify_ledger(tmp_path / "ledger").records == status["records"]
        assert not loop.alarms.list()

        with sqlite3.connect(tmp_path / "ledger" / "ledger.sqlite") as db:
            # block 0's first unit row starts with record seq 0 (72 bytes a record)
            unit, body = db.execute(
                "SELECT unit, bodies FROM records WHERE height = 0 ORDER BY unit LIMIT 1"
            ).fetchone()
            forged = body[:70] + bytes([body[70] ^ 1]) + body[71:]  # one bit of record seq 0
            db.execute(
                "UPDATE records SET bodies = ? WHERE height = 0 AND unit = ?", (forged, unit)
            )
        ledger.verify_now()
        ledger.drain()
        status = client.get("/api/ledger").json()
        assert status["verified"] is False
        assert "seq 0" in status["problem"]
        (alarm,) = loop.alarms.list()
        assert alarm.kind == "ledger_tampered"
        assert alarm.severity == "critical"
    finally:
        ledger.stop()
        service.studies.shutdown()


def test_service_without_ledger_says_how_to_get_one(tiny: Scenario, tmp_path: Path) -> None:
    service = Service(loop=LiveLoop(tiny, days=0.125), studies=Studies(tmp_path / "runs"))
    response = TestClient(create_app(service)).get("/api/ledger")
    assert response.status_code == 404
    assert "--ledger" in response.json()["detail"]
    service.studies.shutdown()


def test_live_ledger_needs_an_empty_folder(tiny: Scenario, tmp_path: Path) -> None:
    loop = LiveLoop(tiny, days=0.125)
    LiveLedger(loop, tmp_path / "ledger").stop()
    with pytest.raises(Exception, match="already holds a ledger"):
        LiveLedger(loop, tmp_path / "ledger")
