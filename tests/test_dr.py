"""Demand response: events to caps, sheds and reductions against the run's own strategy and a
10-of-10 customer baseline, CSV import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
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
    # against mpc's own plan without the events: the cap took nothing more off (mpc already
    # imported under it), while the utility's 10-of-10 baseline credits a reduction
    cap, shed = planned.dr
    assert cap.reduction_kwh >= -1e-6
    assert cap.reduction_cbl_kwh > 0
    # the shed comes off the baseline at every step, down to zero import where it is less
    assert planned.dr_baselines is not None
    steps = event_steps(events[1], planning_index(planned.scenario, 1.0))
    base_kw = planned.dr_baselines.own_import_kw[steps, 0]
    assert np.all(planned.import_kw[steps, 0] <= np.maximum(base_kw - 30.0, 0.0) + 1e-6)
    assert shed.mean_reduction_kw >= np.minimum(base_kw, 30.0).mean() - 1e-6


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


def test_the_10_of_10_baseline_by_hand() -> None:
    """Each step's baseline is the mean of the same time of day over the 10 most recent
    eligible weekdays before the event's day (not weekends, holidays or event days)."""
    from ersgrid.market.dr import cbl_10of10

    tz = "Asia/Tokyo"
    history = pd.date_range("2035-03-01", "2035-04-03", freq="15min", inclusive="left", tz=tz)
    day_no = np.asarray((history.normalize() - history[0]).days, dtype=float)
    imports = np.column_stack([day_no * 10.0 + history.hour, -day_no])
    skip = np.asarray(history.dayofweek >= 5) | (history.normalize() == pd.Timestamp(
        "2035-03-21", tz=tz))  # fmt: skip
    index = pd.date_range("2035-04-02", periods=96, freq="15min", tz=tz)  # a Monday
    mask = np.zeros(96, dtype=bool)
    mask[68:72] = True  # 17:00 .. 18:00
    cbl = cbl_10of10(index, mask, history, imports, skip)
    assert np.isnan(cbl[~mask]).all()
    # the ten weekdays before Monday 2 April, 21 March skipped: 16, 19, 20, 22, 23, 26 .. 30 March
    days = [15, 18, 19, 21, 22, 25, 26, 27, 28, 29]  # their numbers from 1 March (day 0)
    np.testing.assert_allclose(cbl[68], [np.mean(days) * 10.0 + 17.0, -np.mean(days)])
    with pytest.raises(ValueError, match="needs 10 eligible weekdays"):
        cbl_10of10(index, mask, history[history >= "2035-03-20"], imports[-len(
            history[history >= "2035-03-20"]):], skip[history >= "2035-03-20"])  # fmt: skip


def test_reductions_are_measured_against_both_named_baselines() -> None:
    events = [_event(import_cap_kw=250.0)]
    result = run("tiny", "tou", days=1, dr_events=events)
    k = result.kpis
    assert k["dr_baseline"] == "tou without the events"
    assert result.dr_baselines is not None
    own = result.dr_baselines.own_import_kw
    assert own.shape == result.import_kw.shape
    inside = event_steps(events[0], result.world.index)
    perf = result.dr[0]
    assert perf.baseline_kwh == pytest.approx(own[inside].sum() * 0.25)
    assert perf.reduction_kwh == pytest.approx(
        (own[inside] - result.import_kw[inside]).sum() * 0.25
    )
    assert np.isfinite(perf.cbl_kwh)
    assert k["dr_reduction_cbl_kwh"] == pytest.approx(perf.cbl_kwh - perf.actual_kwh)
