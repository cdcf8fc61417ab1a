"""The service as OCPP charging station management system for service-area chargers.

Charging stations connect by websocket (subprotocol ``ocpp2.0.1`` or ``ocpp2.1``) to
``ws://<host>:<port>/<service-area>/<station-id>``, where ``<service-area>`` is the
service area's name in lower case with spaces as dashes (``shizuoka-sa``). The CSMS
accepts BootNotification, Heartbeat, StatusNotification, MeterValues and TransactionEvent,
and sends each station a ``ChargingStationMaxProfile`` (SetChargingProfile, W) derived from
the live plan: the chargers' rating normally, and during a DR event at the service area's
substation the room left under its import cap, shared among the connected stations.

When the substation's import without the chargers is above the cap, there is no room to
charge: OCPP 2.1 stations are then asked to discharge (V2G) by the overshoot, shared among
them up to their rating — period with ``operationMode`` ``CentralSetpoint``, a negative
``setpoint`` and ``dischargeLimit``; otherwise their period is ``ChargingOnly``. OCPP 2.0.1
has no discharge: its stations get a limit of 0 W then.

The stations' metered power (``Power.Active.Import`` minus ``Power.Active.Export``) counts in
their substation's import in the live state (:attr:`LiveLoop.charger_kw`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ersgrid.errors import ServiceError
from ersgrid.service.live import LiveLoop, TickReport

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["ChargerState", "Csms", "slug"]

log = logging.getLogger(__name__)
SUBPROTOCOL = "ocpp2.0.1"
SUBPROTOCOLS = ("ocpp2.0.1", "ocpp2.1")


def slug(name: str) -> str:
    """URL form of a service-area name: lower case, spaces as dashes."""
    return "-".join(name.lower().split())


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class ChargerState:
    """What the CSMS knows of one charging station.

    Attributes
    ----------
    id : str
    service_area : str
    connected : bool
    vendor, model : str
    evse_status : dict
        Connector status by ``"<evse>/<connector>"`` (Available, Occupied, …).
    protocol : str
        ``ocpp2.0.1`` or ``ocpp2.1`` (the websocket subprotocol).
    power_kw : float [kW]
        Last active power reported, import minus export (charging positive).
    energy_kwh : float [kWh]
        Last import energy register reported.
    limit_kw : float [kW]
        Last station limit sent; ``accepted`` says whether the station accepted it.
    setpoint_kw : float [kW]
        Last set-point sent (OCPP 2.1; negative: discharge), None when charging only.
    """

    id: str
    service_area: str
    protocol: str = SUBPROTOCOL
    connected: bool = True
    vendor: str = ""
    model: str = ""
    boot_time: str | None = None
    last_seen: str | None = None
    evse_status: dict[str, str] = field(default_factory=dict)
    power_kw: float | None = None
    energy_kwh: float | None = None
    transactions: int = 0
    limit_kw: float | None = None
    setpoint_kw: float | None = None
    accepted: bool | None = None
    profiles_sent: int = 0


def _make_charge_point(csms: Csms, station: ChargerState, connection: Any) -> Any:
    from ocpp.routing import on as ocpp_on

    if station.protocol == "ocpp2.1":
        from ocpp.v21 import ChargePoint, call_result
    else:
        from ocpp.v201 import ChargePoint, call_result
    accepted = "Accepted"

    Handler = Callable[..., Any]
    on = cast(Callable[[str], Callable[[Handler], Handler]], ocpp_on)

    class StationLink(ChargePoint):  # type: ignore[misc]
        """One station's OCPP session, server side."""

        @on("BootNotification")
        def on_boot(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
            station.vendor = str(charging_station.get("vendor_name", ""))
            station.model = str(charging_station.get("model", ""))
            station.boot_time = station.last_seen = _now_iso()
            csms.wake()
            return call_result.BootNotification(
                current_time=_now_iso(), interval=60, status=accepted
            )

        @on("Heartbeat")
        def on_heartbeat(self, **_: Any) -> Any:
            station.last_seen = _now_iso()
            return call_result.Heartbeat(current_time=_now_iso())

        @on("StatusNotification")
        def on_status(
            self, evse_id: int, connector_id: int, connector_status: str, **_: Any
        ) -> Any:
            station.evse_status[f"{evse_id}/{connector_id}"] = str(connector_status)
            station.last_seen = _now_iso()
            return call_result.StatusNotification()

        @on("MeterValues")
        def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
            _read_meter(station, meter_value)
            csms.meter_changed()
            return call_result.MeterValues()

        @on("TransactionEvent")
        def on_transaction(self, event_type: str, meter_value: list[dict[str, Any]] | None = None,
                           **_: Any) -> Any:  # fmt: skip
            if event_type == "Started":
                station.transactions += 1
            if meter_value:
                _read_meter(station, meter_value)
                csms.meter_changed()
            return call_result.TransactionEvent()

    return StationLink(station.id, connection)


_UNIT_TO_K = {"W": 1e-3, "kW": 1.0, "Wh": 1e-3, "kWh": 1.0}


def _read_meter(station: ChargerState, meter_value: list[dict[str, Any]]) -> None:
    """Take active power (import minus export) and the import energy register from sampled
    values (default units W and Wh)."""
    station.last_seen = _now_iso()
    for mv in meter_value:
        power = {}
        for sv in mv.get("sampled_value", []):
            measurand = sv.get("measurand", "Energy.Active.Import.Register")
            unit = (sv.get("unit_of_measure") or {}).get("unit")
            value = float(sv["value"])
            if measurand in ("Power.Active.Import", "Power.Active.Export"):
                power[measurand] = value * _UNIT_TO_K.get(unit or "W", 1e-3)
            elif measurand == "Energy.Active.Import.Register":
                station.energy_kwh = value * _UNIT_TO_K.get(unit or "Wh", 1e-3)
        if power:
            station.power_kw = power.get("Power.Active.Import", 0.0) - power.get(
                "Power.Active.Export", 0.0
            )


class Csms:
    """OCPP 2.0.1 / 2.1 CSMS on a websocket server, run in its own asyncio thread.

    Parameters
    ----------
    loop : LiveLoop
    host : str
    port : int
        0 picks a free port (see :attr:`port` after :meth:`start`).
    """

    def __init__(self, loop: LiveLoop, host: str = "127.0.0.1", port: int = 9000) -> None:
        self.loop = loop
        self.host, self.port = host, int(port)
        sc, lay = loop.scenario, loop.layout
        self.areas = {slug(sa.name): k for k, sa in enumerate(sc.service_areas)}
        self._area_sub = [int(j) for j in lay.sa_substation]
        self.stations: dict[str, ChargerState] = {}
        self._links: dict[str, Any] = {}
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._server: Any = None
        self._wake: asyncio.Event | None = None
        self._error: str | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        loop.observers.append(self._on_tick)

    # ---- limits from the plan -----------------------------------------------------------
    def station_limits_kw(
        self, report: TickReport | None = None
    ) -> dict[str, tuple[float, float | None]]:
        """Charge limit [kW] and set-point [kW] (negative: discharge; None: charge within the
        limit) for every connected station, from the plan in force now."""
        report = report or self.loop.last
        caps = self.loop.import_caps_kw()
        out: dict[str, tuple[float, float | None]] = {}
        for name, k in self.areas.items():
            sa = self.loop.scenario.service_areas[k]
            online = [s for s in self.stations.values() if s.service_area == name and s.connected]
            if not online:
                continue
            j = self._area_sub[k]
            budget = float(sa.v2g_chargers * sa.charger_kw)
            overshoot = 0.0
            if np.isfinite(caps[j]) and report is not None:
                # the room under the cap besides the road and the other loads
                room = float(caps[j] - report.sub_net_kw[j])
                budget = min(budget, max(room, 0.0))
                overshoot = max(-room, 0.0)
            each = min(float(sa.charger_kw), budget / len(online))
            v2x = [s for s in online if s.protocol == "ocpp2.1"]
            discharge = min(float(sa.charger_kw), overshoot / len(v2x)) if v2x else 0.0
            for s in online:
                if discharge > 0 and s.protocol == "ocpp2.1":
                    out[s.id] = (0.0, -round(discharge, 3))
                else:
                    out[s.id] = (round(each, 3), None)
        return out

    def meter_changed(self) -> None:
        """A station metered: put the connected stations' power into their substation's
        import (the live loop's :attr:`~LiveLoop.charger_kw`)."""
        kw = np.zeros(self.loop.layout.n_substations)
        for s in self.stations.values():
            if s.connected and s.power_kw is not None:
                kw[self._area_sub[self.areas[s.service_area]]] += s.power_kw
        self.loop.set_charger_power(kw)

    def _on_tick(self, report: TickReport) -> None:
        if self._aloop is not None and self._wake is not None:
            self._aloop.call_soon_threadsafe(self._wake.set)

    def wake(self) -> None:
        """Ask the CSMS to re-send limits now (e.g. after a boot)."""
        if self._aloop is not None and self._wake is not None:
            self._aloop.call_soon_threadsafe(self._wake.set)

    async def _push_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            for sid, (limit, setpoint) in self.station_limits_kw().items():
                station = self.stations[sid]
                if station.boot_time is None:
                    continue
                same_setpoint = (setpoint is None) == (station.setpoint_kw is None) and (
                    setpoint is None
                    or station.setpoint_kw is None
                    or abs(setpoint - station.setpoint_kw) < 0.5
                )
                if (
                    station.limit_kw is not None
                    and abs(station.limit_kw - limit) < 0.5
                    and same_setpoint
                ):
                    continue
                station.limit_kw, station.setpoint_kw = limit, setpoint
                task = asyncio.ensure_future(self._send_profile(sid, limit, setpoint))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send_profile(self, sid: str, limit_kw: float, setpoint_kw: float | None) -> None:
        link = self._links.get(sid)
        station = self.stations[sid]
        if link is None:
            return
        period: dict[str, Any] = {"start_period": 0, "limit": round(limit_kw * 1000.0, 1)}  # [W]
        if station.protocol == "ocpp2.1":
            from ocpp.v21 import call

            if setpoint_kw is None:
                period["operation_mode"] = "ChargingOnly"
            else:  # V2G: follow the (negative) set-point, discharge no more than it
                watts = round(setpoint_kw * 1000.0, 1)
                period |= {"operation_mode": "CentralSetpoint", "setpoint": watts,
                           "discharge_limit": watts}  # fmt: skip
        else:
            from ocpp.v201 import call
        profile = {
            "id": 1, "stack_level": 0,
            "charging_profile_purpose": "ChargingStationMaxProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": [{
                "id": 1, "start_schedule": _now_iso(), "charging_rate_unit": "W",
                "charging_schedule_period": [period],
            }],
        }  # fmt: skip
        try:
            result = await link.call(call.SetChargingProfile(evse_id=0, charging_profile=profile))
            station.accepted = result.status == "Accepted"
            station.profiles_sent += 1
        except Exception as err:  # a station's error must not stop the CSMS
            station.accepted = False
            log.warning("SetChargingProfile to %s failed: %s", sid, err)

    # ---- websocket server ---------------------------------------------------------------
    async def _handle(self, connection: Any) -> None:
        path = connection.request.path.strip("/").split("/")
        if len(path) != 2 or path[0] not in self.areas or not path[1]:
            await connection.close(
                1008, f"connect to /<service-area>/<station-id>; areas: {', '.join(self.areas)}"
            )
            return
        if connection.subprotocol not in SUBPROTOCOLS:
            await connection.close(1002, f"subprotocol {' or '.join(SUBPROTOCOLS)} required")
            return
        area, sid = path
        station = self.stations.get(sid) or ChargerState(sid, area)
        station.service_area, station.connected = area, True
        station.protocol = str(connection.subprotocol)
        station.limit_kw = station.setpoint_kw = None  # a new session gets its limit again
        self.stations[sid] = station
        self.loop.alarms.clear("charger_offline", sid)
        link = _make_charge_point(self, station, connection)
        self._links[sid] = link
        try:
            await link.start()
        except Exception:  # closed connection ends the session
            pass
        finally:
            self._links.pop(sid, None)
            station.connected = False
            self.meter_changed()  # its power no longer counts
            self.loop.alarms.raise_alarm(
                "charger_offline", sid, f"charging station {sid} at {area} disconnected",
                "warning", "ocpp",
            )  # fmt: skip
            self.wake()

    def _run(self) -> None:
        from websockets.asyncio.server import serve

        async def main() -> None:
            self._wake = asyncio.Event()
            try:
                protocols: list[Any] = list(SUBPROTOCOLS)
                server = await serve(self._handle, self.host, self.port, subprotocols=protocols)
            except OSError as err:
                self._error = str(err)
                self._ready.set()
                return
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            pusher = asyncio.ensure_future(self._push_loop())
            await server.wait_closed()
            pusher.cancel()

        self._aloop = aloop = asyncio.new_event_loop()
        asyncio.set_event_loop(aloop)
        try:
            aloop.run_until_complete(main())
        finally:  # end every session and pending call before the event loop goes
            pending = asyncio.all_tasks(aloop)
            for task in pending:
                task.cancel()
            if pending:
                aloop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            aloop.close()

    def start(self) -> None:
        """Start the websocket server; raises ServiceError if the port is taken."""
        self._thread = threading.Thread(target=self._run, name="ersgrid-csms", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise ServiceError(
                f"cannot start the OCPP CSMS on {self.host}:{self.port}: {self._error}"
            )

    def stop(self) -> None:
        """Close the server and every session."""
        if self._aloop is not None and self._server is not None:
            self._aloop.call_soon_threadsafe(self._server.close)
        if self._thread is not None:
            self._thread.join(10)

    def status(self) -> dict[str, Any]:
        """For /api/health and the dashboard."""
        return {
            "url": f"ws://{self.host}:{self.port}/<service-area>/<station-id>",
            "service_areas": list(self.areas),
            "stations": len(self.stations),
            "connected": sum(s.connected for s in self.stations.values()),
            "last_message": max(
                (s.last_seen for s in self.stations.values() if s.last_seen), default=None
            ),
        }

    def routes(self, api: APIRouter, _name: str) -> None:
        """Add ``GET /api/chargers`` to the router (whose dependencies check the caller)."""

        @api.get("/api/chargers")
        def chargers() -> list[dict[str, Any]]:
            return [asdict(s) for s in self.stations.values()]
