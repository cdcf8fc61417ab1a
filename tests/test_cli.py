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
    "command",
    [[], ["run"], ["compare"], ["validate"], ["scenarios"], ["scenario-doc"], ["export"],
     ["reserve"], ["outage"], ["sweep"], ["serve"], ["dr", "run"], ["ledger", "verify"],
     ["forecast", "backtest"], ["size"]],
)  # fmt: skip
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


def test_run_json_prints_json_only_and_exports_csv_and_xlsx(tmp_path: Path) -> None:
    out = tmp_path / "j"
    args = ["run", "tiny", "--days", "0.125", "--out", str(out), "--quiet", "--json",
            "--export", "csv,xlsx"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)  # stdout is the JSON document and nothing else
    assert data["results"] == str(out)
    assert data["kpis"] == json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    for name in ("kpis.csv", "timeseries.csv", "trips.csv", "results.xlsx"):
        assert (out / name).is_file(), name
    ts = pd.read_csv(out / "timeseries.csv")
    assert len(ts) == 12
    assert ts["road_power_kw"].tolist() == pytest.approx(
        pd.read_parquet(out / "timeseries.parquet")["road_power_kw"].tolist()
    )


def test_compare_json_and_export_of_the_comparison(tmp_path: Path) -> None:
    out = tmp_path / "c"
    args = ["compare", "tiny", "--strategies", "uncontrolled,tou", "--days", "0.0625", "-q",
            "--out", str(out), "--json", "--export", "csv"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data["kpis"]) == {"uncontrolled", "tou"}
    side = pd.read_csv(out / "compare.csv")
    assert list(side.columns) == ["kpi", "uncontrolled", "tou"]
    assert (out / "tou" / "timeseries.csv").is_file()


def test_ledger_verify_statements_and_export_of_a_run(tiny_results: Path) -> None:
    res = runner.invoke(app, ["ledger", "verify", str(tiny_results), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["ok"] is True
    assert rep["records"] > 0
    res = runner.invoke(app, ["ledger", "statements", str(tiny_results), "--json"])
    assert res.exit_code == 0, res.output
    st = json.loads(res.stdout)
    assert st["currency"] == "JPY"
    assert abs(st["sum"]) < 1e-6  # the parties' statements balance
    assert "vehicle owners" in {p["party"] for p in st["parties"]}
    res = runner.invoke(app, ["export", str(tiny_results), "--format", "xlsx", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [str(tiny_results / "results.xlsx")]
    sheets = pd.read_excel(tiny_results / "results.xlsx", sheet_name=None)
    assert len(sheets["timeseries"]) == 96


def test_an_out_folder_that_holds_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    res = runner.invoke(app, ["run", "tiny", "--days", "0.0625", "-q", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "holds no results" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_ctrl_c_exits_130_saying_what_was_kept(tmp_path: Path) -> None:
    """A real process interrupted (SIGINT) while it runs: exit 130, one line, nothing written."""
    import signal
    import time

    out = tmp_path / "never"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ersgrid.cli", "run", "tiny", "--days", "3", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        # without a terminal the progress comes as plain lines; wait for the run to be stepping
        deadline = time.monotonic() + 300
        line = ""
        while time.monotonic() < deadline and "%" not in line:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the run ended before it was interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "interrupted: no results were written" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_forecast_backtest_json(tmp_path: Path) -> None:
    args = ["forecast", "backtest", "tiny", "--target", "traffic", "--days", "2", "--model",
            "naive", "--history-days", "35", "--out", str(tmp_path), "--json"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["target"] == "traffic"
    assert data["unit"] == "veh/15 min"
    assert {"model", "seasonal_naive", "skill"} <= set(data["scores"])
    assert Path(data["plot"]).is_file()


def test_reserve_and_outage_json(tmp_path: Path) -> None:
    args = ["reserve", "tiny", "--strategy", "uncontrolled", "--days", "0.125", "--out",
            str(tmp_path / "r"), "--json"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == {**json.loads((tmp_path / "r" / "reserve.json").read_text()),
                    "currency": "JPY", "written": data["written"]}  # fmt: skip
    assert data["events"]
    args = ["outage", "tiny", "--substation", "SS-Test", "--start", "2035-04-02T01:00",
            "--hours", "0.5", "--days", "0.125", "--out", str(tmp_path / "o"),
            "--json"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["substation"] == "SS-Test"
    assert data["served_kwh"] + data["not_served_kwh"] == pytest.approx(data["critical_kwh"])


def test_continue_from_carries_on_and_refuses_what_does_not_fit(
    tiny_results: Path, tmp_path: Path
) -> None:
    out = tmp_path / "next"
    args = ["run", "tiny", "--days", "0.25", "--continue-from", str(tiny_results), "--quiet"]
    done = runner.invoke(app, [*args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["start"] == "2035-04-03 00:00:00+09:00"  # where the day before ended
    assert (out / "end_state.npz").is_file()
    wrong_day = runner.invoke(app, [*args, "--start", "2035-04-02", "--out", str(out)])
    assert wrong_day.exit_code == 2
    assert "starts at" in wrong_day.output
    other = runner.invoke(app, [*args[:1], "e20", *args[2:], "--out", str(out)])
    assert other.exit_code == 2
    assert "another scenario" in other.output
    missing = runner.invoke(
        app, ["run", "tiny", "--continue-from", str(tmp_path / "none"), "--out", str(out)]
    )
    assert missing.exit_code == 2
    assert "no end state" in missing.output
    assert "Traceback" not in wrong_day.output + other.output + missing.output
