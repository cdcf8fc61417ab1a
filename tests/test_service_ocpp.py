"""OCPP 2.0.1: real charge-point clients (the ``ocpp`` package) talk to the CSMS on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.client import connect

from ersgrid.scenario.schema import Scenario
from ersgrid.service.csms import Csms
from ersgrid.service.live import LiveLoop


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Station(ChargePoint):  # type: ignore[misc]
    """A V2G charging station at the service area, as its firmware would speak."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.limits_w: asyncio.Queue[float] = asyncio.Queue()

    @on("SetChargingProfile")
    def on_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        assert evse_id == 0
        assert charging_profile["charging_profile_purpose"] == "ChargingStationMaxProfile"
        (schedule,) = charging_profile["charging_schedule"]
        assert schedule["charging_rate_unit"] == "W"
        self.limits_w.put_nowait(schedule["charging_schedule_period"][0]["limit"])
        return call_result.SetChargingProfile(status="Accepted")

    async def boot(self) -> str:
        station = {"vendor_name": "ersgrid-test", "model": "V2G-50"}
        resp = await self.call(call.BootNotification(charging_station=station, reason="PowerUp"))
        await self.call(call.StatusNotification(
            timestamp=_now(), connector_status="Occupied", evse_id=1, connector_id=1))  # fmt: skip
        return str(resp.status)

    async def meter(self, power_w: float, energy_wh: float) -> None:
        await self.call(call.MeterValues(evse_id=1, meter_value=[{
            "timestamp": _now(), "sampled_value": [
                {"value": power_w, "measurand": "Power.Active.Import",
                 "unit_of_measure": {"unit": "W"}},
                {"value": energy_wh, "measurand": "Energy.Active.Import.Register"},
            ]}]))  # fmt: skip


@pytest.fixture
def csms(tiny: Scenario) -> Iterator[Csms]:
    loop = LiveLoop(tiny, days=1.0)
    loop.run_for(8 * 3600)
    server = Csms(loop, port=0)
    server.start()
    yield server
    server.stop()


async def _session(csms: Csms) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{csms.port}/test-pa"
    loop = csms.loop
    async with connect(f"{url}/CP-1", subprotocols=["ocpp2.0.1"]) as ws1, \
               connect(f"{url}/CP-2", subprotocols=["ocpp2.0.1"]) as ws2:  # fmt: skip
        cp1, cp2 = Station("CP-1", ws1), Station("CP-2", ws2)
        tasks = [asyncio.ensure_future(cp.start()) for cp in (cp1, cp2)]
        assert await cp1.boot() == "Accepted"
        assert await cp2.boot() == "Accepted"
        first = [await asyncio.wait_for(cp.limits_w.get(), 5) for cp in (cp1, cp2)]
        await cp1.meter(22_000.0, 1_234_500.0)
        # a DR event caps the substation at 90 kW: 60 kW service area + 30 kW road in the rush
        now = loop.now
        cap_kw = 90.0
        loop.dr.create(now, now + pd.Timedelta(hours=2), cap_kw)
        await asyncio.to_thread(loop.run_for, 15)
        curtailed = [await asyncio.wait_for(cp.limits_w.get(), 5) for cp in (cp1, cp2)]
        for t in tasks:
            t.cancel()
        station = csms.stations["CP-1"]
        return {"first": first, "curtailed": curtailed, "power_kw": station.power_kw,
                "energy_kwh": station.energy_kwh, "vendor": station.vendor,
                "status": station.evse_status, "accepted": station.accepted,
                "dr_room_kw": cap_kw - float(loop.last.sub_import_kw[0])}  # fmt: skip


def test_chargers_boot_meter_and_follow_the_plan(csms: Csms) -> None:
    got = asyncio.run(_session(csms))
    assert got["first"] == [50_000.0, 50_000.0]  # charger rating when no DR event binds
    assert got["vendor"] == "ersgrid-test"
    assert got["status"] == {"1/1": "Occupied"}
    assert got["power_kw"] == 22.0
    assert got["energy_kwh"] == 1234.5
    assert got["accepted"] is True
    # the room under the DR cap is shared between the two stations
    assert sum(got["curtailed"]) == pytest.approx(max(got["dr_room_kw"], 0) * 1000, abs=1.0)
    assert max(got["curtailed"]) < 50_000.0
    asyncio.run(asyncio.sleep(0.3))  # the CSMS notices the closed sessions
    assert csms.loop.alarms.is_active("charger_offline", "CP-1")
    assert csms.status()["connected"] == 0


def test_unknown_service_area_is_refused(csms: Csms) -> None:
    async def attempt() -> int | None:
        async with connect(f"ws://127.0.0.1:{csms.port}/atlantis/CP-9",
                           subprotocols=["ocpp2.0.1"]) as ws:  # fmt: skip
            with contextlib.suppress(Exception):
                await ws.recv()
            return ws.close_code

    assert asyncio.run(attempt()) == 1008
    assert csms.stations == {}
