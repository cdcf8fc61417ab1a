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
from ocpp.v21 import ChargePoint as V21ChargePoint
from ocpp.v21 import call as v21_call
from ocpp.v21 import call_result as v21_result
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


async def _newest(queue: asyncio.Queue[Any]) -> Any:
    """The last profile a station got once the CSMS has settled (it may push from the tick
    before a DR event and again from the tick under it)."""
    value = await asyncio.wait_for(queue.get(), 5)
    await asyncio.sleep(0.3)
    while not queue.empty():
        value = queue.get_nowait()
    return value


@pytest.fixture
def csms(tiny: Scenario) -> Iterator[Csms]:
    loop = LiveLoop(tiny, days=1.0, tick_s=300.0)  # 5 min ticks: the test gets there fast
    loop.run_for(19 * 3600)  # evening rush, the sun has set: the site imports
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
        await asyncio.to_thread(loop.run_for, 15)
        rep = loop.last
        assert rep is not None
        # the station's metered power counts in its substation's import
        assert rep.sub_charger_kw[0] == 22.0
        energy = loop.context.energy
        k = loop.plan_step
        net_kw = rep.sub_road_kw[0] + energy.other_load_kw[k, 0] - energy.renewable_kw[k, 0]
        assert rep.sub_net_kw[0] == pytest.approx(net_kw)
        assert rep.sub_import_kw[0] == pytest.approx(max(net_kw + 22.0, 0.0))
        # a DR event caps the substation at 100 kW: whatever the road draws (the twin keeps
        # the cap for it too), the road and the service area's own load less PV (~13 kW, the
        # sun has set) leave the chargers less than their 100 kW
        now = loop.now
        cap_kw = 100.0
        loop.dr.create(now, now + pd.Timedelta(hours=2), cap_kw)
        await asyncio.to_thread(loop.run_for, 15)
        curtailed = [await _newest(cp.limits_w) for cp in (cp1, cp2)]
        for t in tasks:
            t.cancel()
        station = csms.stations["CP-1"]
        return {"first": first, "curtailed": curtailed, "power_kw": station.power_kw,
                "energy_kwh": station.energy_kwh, "vendor": station.vendor,
                "status": station.evse_status, "accepted": station.accepted,
                "dr_room_kw": cap_kw - float(loop.last.sub_net_kw[0])}  # fmt: skip


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


class V2xStation(V21ChargePoint):  # type: ignore[misc]
    """An OCPP 2.1 bidirectional station: takes any profile and records its first period."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.periods: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @on("SetChargingProfile")
    def on_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        (schedule,) = charging_profile["charging_schedule"]
        self.periods.put_nowait(schedule["charging_schedule_period"][0])
        return v21_result.SetChargingProfile(status="Accepted")

    async def boot(self) -> str:
        station = {"vendor_name": "ersgrid-test", "model": "V2X-50"}
        resp = await self.call(v21_call.BootNotification(charging_station=station,
                                                         reason="PowerUp"))  # fmt: skip
        return str(resp.status)

    async def export(self, power_w: float) -> None:
        await self.call(v21_call.MeterValues(evse_id=1, meter_value=[{
            "timestamp": _now(), "sampled_value": [
                {"value": power_w, "measurand": "Power.Active.Export",
                 "unit_of_measure": {"unit": "W"}}]}]))  # fmt: skip


async def _v2x_session(csms: Csms) -> dict[str, Any]:
    loop = csms.loop
    url = f"ws://127.0.0.1:{csms.port}/test-pa"
    async with connect(f"{url}/V2X-1", subprotocols=["ocpp2.1"]) as ws1, \
               connect(f"{url}/CP-2", subprotocols=["ocpp2.0.1"]) as ws2:  # fmt: skip
        v2x, cp = V2xStation("V2X-1", ws1), Station("CP-2", ws2)
        tasks = [asyncio.ensure_future(c.start()) for c in (v2x, cp)]
        assert await v2x.boot() == "Accepted"
        assert await cp.boot() == "Accepted"
        normal = await asyncio.wait_for(v2x.periods.get(), 5)
        await asyncio.wait_for(cp.limits_w.get(), 5)
        # a cap below the service area's own load less PV: the road stops, no room to charge,
        # so the bidirectional station is asked to discharge by the overshoot, the other
        # station (2.0.1, no discharge) gets 0 W
        now = loop.now
        loop.dr.create(now, now + pd.Timedelta(hours=2), 5.0)
        await asyncio.to_thread(loop.run_for, 15)
        rep = loop.last
        overshoot_kw = float(rep.sub_net_kw[0]) - 5.0
        discharge = await _newest(v2x.periods)
        other = await _newest(cp.limits_w)
        await v2x.export(-discharge["setpoint"])
        await asyncio.to_thread(loop.run_for, 15)
        after = loop.last
        for t in tasks:
            t.cancel()
        return {"normal": normal, "discharge": discharge, "other_w": other,
                "overshoot_kw": overshoot_kw, "charger_kw": float(after.sub_charger_kw[0]),
                "station": csms.stations["V2X-1"]}  # fmt: skip


def test_ocpp21_station_is_asked_to_discharge_under_a_tight_cap(csms: Csms) -> None:
    got = asyncio.run(_v2x_session(csms))
    assert got["normal"]["operation_mode"] == "ChargingOnly"
    assert got["normal"]["limit"] == 50_000.0
    assert got["overshoot_kw"] > 0
    period = got["discharge"]
    assert period["operation_mode"] == "CentralSetpoint"
    assert period["limit"] == 0.0
    want_w = min(got["overshoot_kw"], 50.0) * 1000.0
    assert -period["setpoint"] == pytest.approx(want_w, abs=1.0)
    assert period["discharge_limit"] == period["setpoint"]
    assert got["other_w"] == 0.0  # OCPP 2.0.1 cannot discharge: it stops charging
    assert got["station"].protocol == "ocpp2.1"
    assert got["station"].setpoint_kw == pytest.approx(-want_w / 1000.0, abs=1e-3)
    # what it exported counts against the substation's import
    assert got["charger_kw"] == pytest.approx(period["setpoint"] / 1000.0)
