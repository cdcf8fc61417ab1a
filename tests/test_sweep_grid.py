"""The sweep's parameter grid, validation before any run, run ids, and the Pareto front."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ersgrid import ScenarioError
from ersgrid.study import build_runs, pareto_mask, parse_param, parse_params, write_sweep_report


def test_values_are_yaml_scalars() -> None:
    assert parse_param("traffic.daily_volume=5000,7500.5") == (
        "traffic.daily_volume",
        [5000, 7500.5],
    )
    path, values = parse_param("road.sections.0.technology = catenary, inductive")
    assert path == "road.sections.0.technology"
    assert values == ["catenary", "inductive"]
    assert parse_param("traffic.holidays_country=JP")[1] == ["JP"]
    assert parse_param("x.flag=true,false")[1] == [True, False]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("traffic.daily_volume", "PATH=v1,v2"),
        ("=1,2", "PATH=v1,v2"),
        ("traffic.daily_volume=", "PATH=v1,v2"),
        ("traffic.daily_volume=1,,2", "empty value"),
        ("traffic.daily_volume=1,1", "listed twice"),
        ("traffic.weekly=[1]", "scalar"),
    ],
)
def test_bad_specs_are_named(spec: str, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        parse_param(spec)


def test_a_path_only_once() -> None:
    with pytest.raises(ScenarioError, match="given twice"):
        parse_params(["traffic.daily_volume=1", "traffic.daily_volume=2"])


def test_product_of_values_times_strategies() -> None:
    grid = parse_params(["traffic.daily_volume=4000,8000,12000", "road.sections.0.length_km=2,4"])
    runs = build_runs("tiny", grid, ["uncontrolled", "other"], 0.25)
    assert len(runs) == 3 * 2 * 2
    assert len({r.run_id for r in runs}) == len(runs)
    point = next(r for r in runs if r.params == {
        "traffic.daily_volume": 8000, "road.sections.0.length_km": 2})  # fmt: skip
    assert point.scenario.traffic.daily_volume == 8000
    assert point.scenario.road.sections[0].length_km == 2
    # Ids are stable: the same sweep gives the same ids (that is how a sweep resumes) ...
    again = build_runs("tiny", grid, ["uncontrolled", "other"], 0.25)
    assert [r.run_id for r in again] == [r.run_id for r in runs]
    # ... and change with anything that changes the run.
    longer = build_runs("tiny", grid, ["uncontrolled", "other"], 0.5)
    assert not {r.run_id for r in longer} & {r.run_id for r in runs}


def test_no_parameters_is_one_point_per_strategy() -> None:
    runs = build_runs("tiny", {}, ["uncontrolled"], 1.0)
    assert len(runs) == 1
    assert runs[0].params == {}


@pytest.mark.parametrize(
    ("specs", "match"),
    [
        (["traffic.daily_volum=5000"], r"traffic\.daily_volum: unknown key"),
        (["road.sections.4.length_km=3"], "not an index of a list of 1"),
        (["nothing.here=3"], "no field 'nothing'"),
        # Valid alone, but 9 km of coils from km 3 runs past the 10 km road: caught per point.
        (["road.sections.0.length_km=2,9"], r"(?s)length_km=9\) is invalid.*beyond the road"),
        (["vehicles.car.share=0.5,0.9", "vehicles.truck.share=0.2"], r"(?s)share=0\.9.*sum"),
    ],
)
def test_every_point_is_validated_before_running(specs: list[str], match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        build_runs("tiny", parse_params(specs), ["uncontrolled"], 0.25)


def test_needs_a_strategy_and_positive_days() -> None:
    with pytest.raises(ScenarioError, match="at least one strategy"):
        build_runs("tiny", {}, [], 1.0)
    with pytest.raises(ScenarioError, match="listed twice"):
        build_runs("tiny", {}, ["a", "a"], 1.0)
    with pytest.raises(ScenarioError, match="positive whole number of 15-min steps"):
        build_runs("tiny", {}, ["a"], 0.0)
    with pytest.raises(ScenarioError, match="positive whole number of 15-min steps"):
        build_runs("tiny", {}, ["a"], 0.1)
    with pytest.raises(ScenarioError, match="YYYY-MM-DD"):
        build_runs("tiny", {}, ["a"], 1.0, start="2035-13-01")


def test_pareto_front_by_hand() -> None:
    cost = [10.0, 8.0, 12.0, 8.0, 9.0, np.nan, 20.0]
    co2 = [5.0, 7.0, 4.0, 9.0, 5.0, 1.0, 4.0]
    # (8,7), (9,5), (12,4) are on the front; (10,5) is beaten by (9,5); (8,9) by (8,7);
    # (20,4) by (12,4); the NaN point never counts.
    assert pareto_mask(cost, co2).tolist() == [False, True, True, False, True, False, False]


def test_report_from_table_alone(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "run_id": ["a", "b", "c"], "traffic.daily_volume": [1, 2, 2],
        "strategy": ["uncontrolled", "uncontrolled", "mpc"], "status": ["ok", "ok", "failed"],
        "error_type": [None, None, "StrategyError"], "error": [None, None, "unknown <mpc>"],
        "energy_cost": [10.0, 20.0, np.nan], "co2_kg": [3.0, 2.0, np.nan],
        "peak_import_kw": [5.0, 6.0, np.nan], "limit_violations": [0, 1, np.nan],
        "currency": ["EUR", "EUR", None],
    })  # fmt: skip
    path = write_sweep_report(table, ["traffic.daily_volume"], tmp_path / "r.html", "t")
    text = path.read_text(encoding="utf-8")
    assert "Pareto front" in text
    assert "Trade-offs against traffic.daily_volume" in text
    assert "Energy cost [EUR]" in text
    assert "unknown &lt;mpc&gt;" in text  # errors are escaped
    assert "3 runs: 2 finished, 1 failed" in text
    assert len(text) > 1_000_000  # plotly.js (~4.8 MB) is inlined: opens with no network
    assert "<script src=" not in text


def test_kpis_flatten_into_row_cells() -> None:
    from ersgrid.study.task import _scalar_kpis

    kpis = {"scenario": "x", "days": 1, "energy_cost": 2.5, "series": [1, 2],
            "grid": {"voltage_violations": 3, "worst": {"bus": "b7"}}}  # fmt: skip
    assert _scalar_kpis(kpis) == {
        "energy_cost": 2.5, "grid.voltage_violations": 3, "grid.worst.bus": "b7"}  # fmt: skip


def test_a_sweep_run_writes_its_ledger_only_when_asked(tmp_path: Path) -> None:
    from ersgrid.results import write_results
    from ersgrid.study.task import execute_run

    runs = build_runs("tiny", {"traffic.daily_volume": [2000, 2500]}, ["uncontrolled"], 0.125)
    plain = execute_run(runs[0], str(tmp_path), writer=write_results)
    signed = execute_run(runs[1], str(tmp_path), ledger=True, writer=write_results)
    assert plain["status"] == signed["status"] == "ok"
    assert (tmp_path / plain["results"] / "kpis.json").exists()
    assert not (tmp_path / plain["results"] / "ledger.sqlite").exists()
    assert (tmp_path / signed["results"] / "ledger.sqlite").exists()
    assert signed["settlement_balanced"] is True


def test_a_sweep_run_without_a_writer_keeps_only_its_row(tmp_path: Path) -> None:
    """The study layer writes no results folder of its own: the face hands it the writer."""
    from ersgrid.study.task import ROW_FILE, execute_run, run_dir

    spec = build_runs("tiny", {}, ["uncontrolled"], 0.0625)[0]
    row = execute_run(spec, str(tmp_path))
    assert row["status"] == "ok"
    assert row["results"] is None
    assert sorted(p.name for p in run_dir(tmp_path, spec.run_id).iterdir()) == [ROW_FILE]
