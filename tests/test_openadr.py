"""OpenADR 2.0b round trip against a real openleadr VTN on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
from typing import Any

import numpy as np
import pytest

pytest.importorskip("openleadr")

from openleadr import OpenADRServer

from ersgrid import load_scenario, run
from ersgrid.service.openadr import DrVen, event_to_specs, shift_to_run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_signal_mapping() -> None:
    sc = load_scenario("tiny")
    start = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)
    event = {
        "event_descriptor": {"event_id": "x"},
        "event_signals": [
            {"signal_name": "LOAD_DISPATCH", "signal_type": "setpoint",
             "intervals": [{"dtstart": start, "duration": dt.timedelta(hours=1),
                            "signal_payload": 300.0}]},
            {"signal_name": "SIMPLE", "signal_type": "level",
             "intervals": [{"dtstart": start, "duration": dt.timedelta(hours=1),
                            "signal_payload": 2}]},
            {"signal_name": "LOAD_CONTROL", "signal_type": "x-loadControlCapacity",
             "intervals": [{"dtstart": start, "duration": dt.timedelta(hours=1),
                            "signal_payload": 0.001}]},
        ],
    }  # fmt: skip
    cap, shed, tiny_cap = event_to_specs(event, sc)
    assert cap.import_cap_kw == 300.0
    assert cap.start == dt.datetime(2030, 1, 1, 17, 0)  # Asia/Tokyo local time
    assert shed.shed_kw == pytest.approx(0.25 * 1200.0)
    # 1.2 kW is below the service area's critical load: the VEN opts out
    assert not tiny_cap.opt_in


def test_vtn_event_is_honoured_and_reduction_reported() -> None:
    logging.getLogger("openleadr").setLevel(logging.ERROR)
    sc = load_scenario("tiny")
    port = _free_port()
    responses: list[tuple[str, str, str]] = []
    reported: list[float] = []

    async def scenario() -> dict[str, Any]:
        server = OpenADRServer(
            vtn_id="test-vtn", http_host="127.0.0.1", http_port=port,
            requested_poll_freq=dt.timedelta(seconds=1),
        )  # fmt: skip

        async def on_registration(info: dict[str, Any]) -> tuple[str, str]:
            return "ven-ersgrid", "reg-1"

        def on_opt(ven_id: str, event_id: str, opt_type: str) -> None:
            responses.append((ven_id, event_id, opt_type))

        def on_data(data: list[tuple[dt.datetime, float]]) -> None:
            reported.extend(value for _, value in data)

        def on_register_report(
            ven_id: str, resource_id: str, measurement: str, unit: str, scale: str,
            min_sampling_interval: dt.timedelta, max_sampling_interval: dt.timedelta,
        ) -> tuple[Any, dt.timedelta]:  # fmt: skip
            return on_data, dt.timedelta(seconds=1)

        server.add_handler("on_create_party_registration", on_registration)
        server.add_handler("on_register_report", on_register_report)
        await server.run_async()
        # tomorrow 17:00-19:00 Tokyo time, cap 250 kW
        tokyo = dt.timezone(dt.timedelta(hours=9))
        day = dt.datetime.now(tokyo).date() + dt.timedelta(days=1)
        server.add_event(
            ven_id="ven-ersgrid", signal_name="LOAD_DISPATCH", signal_type="setpoint",
            intervals=[{"dtstart": dt.datetime.combine(day, dt.time(17), tokyo),
                        "duration": dt.timedelta(hours=2), "signal_payload": 250.0}],
            callback=on_opt, event_id="evening-peak",
        )  # fmt: skip
        ven = DrVen(f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", sc)
        await ven.start()
        events = await ven.wait_for_events(1, timeout_s=30.0)
        assert events, "no event arrived from the VTN"
        shifted = shift_to_run(events, sc.simulation.start)
        result = run(sc, "mpc", days=1, dr_events=shifted)
        ven.publish(list(result.dr))
        for _ in range(100):
            if reported and responses:
                break
            await asyncio.sleep(0.2)
        await ven.stop()
        await server.stop()
        return {"result": result, "events": shifted}

    out = asyncio.run(scenario())
    result = out["result"]
    assert responses == [("ven-ersgrid", "evening-peak", "optIn")]
    assert out["events"][0].start == dt.datetime.combine(sc.simulation.start, dt.time(17))
    assert result.kpis["dr_honoured"]
    ts = result.timeseries
    inside = (ts.index.hour >= 17) & (ts.index.hour < 19)
    assert np.all(ts.loc[inside, "grid_import_kw"] <= 250.0 + 1e-6)
    perf = result.dr[0]
    # mpc already draws nothing from the grid at 17-19 on tiny without the event (storage
    # and PV carry the road): against its own baseline the event reduces nothing, against the
    # 10-of-10 baseline (uncontrolled days before) it does.
    assert perf.baseline_kwh == pytest.approx(perf.actual_kwh + perf.reduction_kwh)
    assert perf.reduction_kwh >= -1e-6
    assert perf.reduction_cbl_kwh > 0
    assert reported, "the VTN received no report"
    assert reported[-1] == pytest.approx(perf.mean_reduction_kw, rel=1e-6)
