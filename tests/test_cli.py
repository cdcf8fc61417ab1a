"""The command line, end to end: run writes every result file; bad input exits 2 cleanly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ersgrid.cli import app
from ersgrid.results import RESULT_FILES

runner = CliRunner()

KPI_KEYS = {
    "scenario", "strategy", "seed", "currency", "energy_delivered_kwh", "grid_import_kwh",
    "grid_export_kwh", "losses_kwh", "peak_import_kw", "energy_cost", "co2_kg", "trips",
    "unmet_energy_kwh", "trips_below_target", "limit_violations",
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("res") / "tiny"
    result = runner.invoke(app, ["run", "tiny", "--days", "1", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_run_writes_every_file(tiny_results: Path) -> None:
    for name in RESULT_FILES:
        assert (tiny_results / name).is_file(), name
    kpis = json.loads((tiny_results / "kpis.json").read_text())
    assert set(kpis) >= KPI_KEYS
    assert kpis["scenario"] == "tiny"
    assert kpis["currency"] == "JPY"


def test_timeseries_is_tz_aware_15min_with_units(tiny_results: Path) -> None:
    ts = pd.read_parquet(tiny_results / "timeseries.parquet")
    assert str(ts.index.tz) == "Asia/Tokyo"
    assert len(ts) == 96
    assert (ts.index[1] - ts.index[0]) == pd.Timedelta(minutes=15)
    for col in ("road_power_kw", "road_power_SS-Test_kw", "grid_import_kw", "grid_export_kw",
                "price_per_kwh", "co2_kg_per_kwh"):  # fmt: skip
        assert col in ts.columns
    # night tariff from 23:00 to 07:00 local time
    assert ts.loc[ts.index.hour == 3, "price_per_kwh"].eq(20.78).all()
    assert ts.loc[ts.index.hour == 12, "price_per_kwh"].eq(32.14).all()


def test_trips_table(tiny_results: Path) -> None:
    trips = pd.read_parquet(tiny_results / "trips.parquet")
    for col in ("vehicle", "vehicle_class", "entry_time", "exit_time", "entry_km", "exit_km",
                "soc_entry", "soc_exit", "energy_received_kwh"):  # fmt: skip
        assert col in trips.columns
    assert trips["vehicle"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert (trips["exit_time"] > trips["entry_time"]).all()


def test_report_is_self_contained(tiny_results: Path) -> None:
    page = (tiny_results / "report.html").read_text(encoding="utf-8")
    assert "<table>" in page
    assert "Plotly" in page
    # no external scripts or styles: it must open without network
    assert not re.search(r"<script[^>]+src=[\"']https?:", page)
    assert not re.search(r"<link[^>]+href=[\"']https?:", page)


def test_validate_good_and_bad(tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", "shin-tomei"]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    text = Path(__file__).parents[1].joinpath("src/ersgrid/scenario/builtin/tiny.yaml").read_text()
    bad.write_text(text.replace("rating_kw: 1200", "rating_kw: -1200"), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ersgrid.cli", "validate", str(bad)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "substations.0.rating_kw" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_unknown_scenario_and_strategy_exit_2() -> None:
    res = runner.invoke(app, ["run", "nowhere", "--quiet"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["run", "tiny", "--strategy", "magic", "--quiet", "--days", "0.25"])
    assert res.exit_code == 2


def test_scenarios_lists_builtins() -> None:
    res = runner.invoke(app, ["scenarios"])
    assert res.exit_code == 0
    for name in ("shin-tomei", "e20", "tiny"):
        assert name in res.output


@pytest.mark.parametrize(
    "command", [[], ["run"], ["validate"], ["scenarios"], ["scenario-doc"], ["dr", "run"]]
)
def test_help_for_every_command(command: list[str]) -> None:
    res = runner.invoke(app, [*command, "--help"])
    assert res.exit_code == 0
    assert "Usage" in res.output


def test_docs_scenario_md_is_current() -> None:
    from ersgrid.scenario.docs import schema_markdown

    doc = Path(__file__).parents[1] / "docs" / "scenario.md"
    assert doc.read_text(encoding="utf-8") == schema_markdown(), (
        "docs/scenario.md is stale: run `ersgrid scenario-doc --out docs/scenario.md`"
    )


def test_peak_reference_adds_peak_reduction(tmp_path: Path) -> None:
    import json

    out = tmp_path / "ref"
    args = ["run", "tiny", "--days", "0.125", "--out", str(out), "--quiet", "--peak-reference"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert "peak_reduction_kw" in res.output
    want = kpis["peak_import_no_v2g_kw"] - kpis["peak_import_kw"]
    assert kpis["peak_reduction_kw"] == want
    # uncontrolled never calls on V2G and the reference run sees the same vehicles
    assert kpis["peak_reduction_kw"] == 0.0
    assert kpis["peak_import_kw"] > 0.0
