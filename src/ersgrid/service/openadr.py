"""ersgrid as an OpenADR 2.0b VEN (openleadr): DR events in, opt-in/out and reductions out.

Signal mapping (documented in ``docs/demand_response.md``):

- ``LOAD_DISPATCH`` / ``setpoint`` with a payload in kW → an import cap of that many kW over
  the road's connections for each interval.
- ``LOAD_CONTROL`` / ``x-loadControlCapacity`` with a payload in 0..1 → a cap of that share
  of the road's substation ratings.
- ``SIMPLE`` / ``level`` 1, 2, 3 → a shed of 10, 25, 50 % of the substation ratings below
  the baseline (level 0 asks nothing).

The VEN opts in when a cap leaves room for the loads that cannot be shed (service-area
critical loads); otherwise it opts out and says why in its log. After a run it reports, per
event, the delivered mean reduction [kW] in a ``TELEMETRY_USAGE`` report whose resource id is
the event id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from ersgrid.errors import DataError
from ersgrid.market.dr import DRPerformance
from ersgrid.scenario.demand_response import DREventSpec
from ersgrid.scenario.schema import Scenario

__all__ = ["SIMPLE_LEVEL_SHED", "DrVen", "event_to_specs", "shift_to_run"]

log = logging.getLogger(__name__)

SIMPLE_LEVEL_SHED = {0: 0.0, 1: 0.10, 2: 0.25, 3: 0.50}
"""Share of the substation ratings shed at each OpenADR SIMPLE level [-]."""

REPORT_SPECIFIER = "ersgrid-dr-reduction"


def event_to_specs(event: dict[str, Any], scenario: Scenario) -> list[DREventSpec]:
    """Turn one openleadr event (a dict) into ersgrid DR events, one per interval.

    Raises
    ------
    DataError
        For a signal ersgrid does not understand (named with the event id).
    """
    descriptor = event.get("event_descriptor", {})
    event_id = str(descriptor.get("event_id", "unknown"))
    rating_kw = sum(s.rating_kw for s in scenario.substations)
    floor_kw = sum(sa.critical_load_kw for sa in scenario.service_areas)
    tz = scenario.timezone
    specs = []
    for signal in event.get("event_signals", []):
        name, kind = signal.get("signal_name"), signal.get("signal_type")
        for n, interval in enumerate(signal.get("intervals", [])):
            start = pd.Timestamp(interval["dtstart"]).tz_convert(tz).tz_localize(None)
            end = start + pd.Timedelta(interval["duration"])
            payload = float(interval["signal_payload"])
            fields: dict[str, Any] = {
                "event_id": f"{event_id}/{n}", "start": start.to_pydatetime(),
                "end": end.to_pydatetime(), "source": "openadr",
            }  # fmt: skip
            if (name, kind) == ("LOAD_DISPATCH", "setpoint"):
                fields["import_cap_kw"] = max(payload, 0.0)
            elif (name, kind) == ("LOAD_CONTROL", "x-loadControlCapacity"):
                fields["import_cap_kw"] = min(max(payload, 0.0), 1.0) * rating_kw
            elif (name, kind) == ("SIMPLE", "level"):
                share = SIMPLE_LEVEL_SHED.get(int(payload))
                if share is None:
                    raise DataError(f"OpenADR event {event_id}: SIMPLE level {payload} is not 0..3")
                if share == 0.0:
                    continue
                fields["shed_kw"] = share * rating_kw
            else:
                raise DataError(
                    f"OpenADR event {event_id}: signal {name}/{kind} is not understood; ersgrid "
                    "takes LOAD_DISPATCH/setpoint, LOAD_CONTROL/x-loadControlCapacity, SIMPLE/level"
                )
            cap = fields.get("import_cap_kw")
            fields["opt_in"] = cap is None or cap >= floor_kw
            if not fields["opt_in"]:
                log.warning(
                    "opting out of %s: cap %.0f kW is below the critical loads (%.0f kW)",
                    fields["event_id"], cap, floor_kw,
                )  # fmt: skip
            specs.append(DREventSpec.model_validate(fields))
    return specs


def shift_to_run(events: list[DREventSpec], first_day: dt.date) -> list[DREventSpec]:
    """Place events on the simulated days: keep their local time of day, move their dates so
    the earliest falls on ``first_day`` (a study replays live events on the scenario's days)."""
    if not events:
        return []
    offset = dt.datetime.combine(first_day, dt.time()) - dt.datetime.combine(
        min(e.start for e in events).date(), dt.time()
    )
    return [e.model_copy(update={"start": e.start + offset, "end": e.end + offset}) for e in events]


class DrVen:
    """A VEN that registers with a VTN, collects its events and reports reductions.

    Parameters
    ----------
    vtn_url : str
        E.g. ``http://127.0.0.1:8080/OpenADR2/Simple/2.0b``.
    scenario : Scenario
    ven_name : str
    """

    def __init__(self, vtn_url: str, scenario: Scenario, ven_name: str = "ersgrid") -> None:
        from openleadr import OpenADRClient

        self.scenario = scenario
        self.events: list[DREventSpec] = []
        self.reductions_kw: dict[str, float] = {}
        self._client = OpenADRClient(ven_name=ven_name, vtn_url=vtn_url)
        self._client.add_handler("on_event", self._on_event)
        self._client.add_report(
            callback=self._reduction_value,
            resource_id="road",
            measurement="power_real",
            unit="W",
            scale="k",
            report_specifier_id=REPORT_SPECIFIER,
            sampling_rate=dt.timedelta(seconds=1),
            power_hertz=scenario.frequency.nominal_hz,
        )
        self._last_report: Callable[[], float] = lambda: 0.0

    async def _on_event(self, event: dict[str, Any]) -> str:
        try:
            specs = event_to_specs(event, self.scenario)
        except DataError as err:
            log.warning("opting out: %s", err)
            return "optOut"
        self.events.extend(specs)
        return "optIn" if all(s.opt_in for s in specs) else "optOut"

    def _reduction_value(self) -> float:
        return self._last_report()

    async def start(self) -> None:
        """Register with the VTN and start polling it."""
        await self._client.run()

    async def stop(self) -> None:
        """Stop polling."""
        await self._client.stop()

    async def wait_for_events(self, count: int, timeout_s: float) -> list[DREventSpec]:
        """Wait until ``count`` events have arrived (or the timeout passes) and return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.events) < count and loop.time() < deadline:
            await asyncio.sleep(0.1)
        return list(self.events)

    def publish(self, performance: list[DRPerformance]) -> None:
        """Report the delivered mean reduction over all events [kW] in the telemetry report."""
        self.reductions_kw = {p.event_id: p.mean_reduction_kw for p in performance}
        total = sum(p.mean_reduction_kw for p in performance if p.opt_in)
        self._last_report = lambda: total
