"""Demand response: events to caps, shed against the uncontrolled baseline, CSV import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from ersgrid import DataError, load_scenario, run
from ersgrid.data.dr_events import read_dr_events
from ersgrid.market.dr import dr_caps, event_steps
from ersgrid.scenario import build_layout
from ersgrid.scenario.demand_response import DREventSpec
from ersgrid.timeindex import planning_index


def _event(**kw: object) -> DREventSpec:
    base: dict[str, object] = {
        "event_id": "e", "start": dt.datetime(2035, 4, 2, 17, 0),
        "end": dt.datetime(2035, 4, 2, 18, 10),
    }  # fmt: skip
    return DREventSpec.model_validate(base | kw)


def test_event_covers_overlapping_steps() -> None:
    sc = load_scenario("tiny")
    index = planning_index(sc, 1.0)
    mask = event_steps(_event(import_cap_kw=1.0), index)
    # 17:00 .. 18:10 touches 17:00, 17:15, 17:30, 17:45, 18:00
    assert mask.sum() == 5
    assert index[mask][0].hour == 17
    assert index[mask][-1].strftime("%H:%M") == "18:00"


def test_caps_split_by_rating_and_shed_from_baseline() -> None:
    sc = load_scenario("shin-tomei")
    lay = build_layout(sc)
    index = planning_index(sc, 1.0)
    base = np.full((len(index), lay.n_substations), 1000.0)
    caps = dr_caps([_event(import_cap_kw=2000.0)], index, lay, None)
    inside = event_steps(_event(import_cap_kw=1.0), index)
    assert np.allclose(caps[inside].sum(axis=1), 2000.0)
    assert np.isinf(caps[~inside]).all()
    shed = dr_caps([_event(shed_kw=400.0, substations=["SS-Fujieda"])], index, lay, base)
    j = lay.sub_ids.index("SS-Fujieda")
    assert np.allclose(shed[inside, j], 600.0)
    assert np.isinf(np.delete(shed, j, axis=1)).all()
    opted_out = dr_caps([_event(import_cap_kw=1.0, opt_in=False)], index, lay, None)
    assert np.isinf(opted_out).all()


def test_bad_events_are_named() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        _event()
    with pytest.raises(ValueError, match="after start"):
        _event(import_cap_kw=1.0, end=dt.datetime(2035, 4, 2, 16, 0))


def test_caps_are_kept_by_every_strategy() -> None:
    events = [_event(import_cap_kw=250.0), _event(event_id="s", shed_kw=30.0,
              start=dt.datetime(2035, 4, 2, 9, 0), end=dt.datetime(2035, 4, 2, 10, 0))]  # fmt: skip
    free = run("tiny", "uncontrolled", days=1, dr_events=events)
    assert free.kpis["dr_honoured"]
    assert free.kpis["dr_reduction_kwh"] > 0
    planned = run("tiny", "mpc", days=1, dr_events=events)
    assert planned.kpis["dr_honoured"]
    assert planned.kpis["dr_max_excess_kw"] <= 1e-6
    for perf in planned.dr:
        assert perf.reduction_kwh > 0
    shed = planned.dr[1]
    assert shed.mean_reduction_kw >= 30.0 - 1e-6


def test_csv_good_and_malformed(tmp_path: Path) -> None:
    good = tmp_path / "dr.csv"
    good.write_text(
        "event_id,start,end,import_cap_kw,shed_kw,substations,opt_in\n"
        "a,2035-04-02T17:00,2035-04-02T19:00,250,,SS-Test,true\n"
        "b,2035-04-02T09:00+09:00,2035-04-02T10:00+09:00,,80,,false\n",
        encoding="utf-8",
    )
    events = read_dr_events(good)
    assert [e.event_id for e in events] == ["a", "b"]
    assert events[0].substations == ["SS-Test"]
    assert events[1].opt_in is False
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "event_id,start,end,import_cap_kw\na,2035-04-02T17:00,2035-04-02T19:00,lots\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=r"line 2, column 4 \(import_cap_kw\)"):
        read_dr_events(bad)
    (tmp_path / "h.csv").write_text("id,start\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: missing column"):
        read_dr_events(tmp_path / "h.csv")
