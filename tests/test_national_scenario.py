"""The national-scale built-in corridor (xinjiang-g30): its size, and an hour of it runs."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from ersgrid import build_layout, load_scenario, run
from ersgrid.cli import app


def test_xinjiang_g30_is_national_scale() -> None:
    sc = load_scenario("xinjiang-g30")
    assert sc.currency == "CNY"
    road_km = sum(s.length_km for s in sc.road.sections)  # along the road, each direction
    assert road_km >= 500.0
    assert sc.road.electrified_km == 2 * road_km  # both directions fitted
    lay = build_layout(sc)
    assert lay.n_segments == 1040
    assert lay.n_substations == 26
    # Every substation feeds some of the road (segments go to the nearest one).
    fed = np.bincount(lay.seg_substation, minlength=lay.n_substations)
    assert (fed > 0).all()


def test_xinjiang_g30_runs_an_hour() -> None:
    res = run("xinjiang-g30", "uncontrolled", days=1 / 24)
    assert res.kpis["currency"] == "CNY"
    assert res.kpis["energy_delivered_kwh"] > 0
    assert res.kpis["limit_violations"] == 0
    assert len(res.timeseries) == 4


def test_sweep_help() -> None:
    out = CliRunner().invoke(app, ["sweep", "--help"])
    assert out.exit_code == 0
    assert "--scheduler" in out.output
    assert "--param" in out.output
