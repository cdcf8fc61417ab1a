"""Sweeps on a real Dask LocalCluster: failures recorded, resume, a dying worker's task re-run.

The plug-in strategies below are looked up by the workers as ``test_sweep_dask:ClassName``,
so the tests put this folder on the workers' PYTHONPATH.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from ersgrid import Dispatch, Observation, RunContext, Strategy
from ersgrid.study import run_sweep

pytest.importorskip("distributed")

HERE = Path(__file__).resolve().parent
KILL_MARKER = "ERSGRID_TEST_KILL_MARKER"


class HalfPower(Strategy):
    """Caps every substation at a tenth of its rating: less energy than uncontrolled."""

    name = "half-power"

    def decide(self, observation: Observation) -> Dispatch:
        lay = self.context.layout
        return Dispatch(0.5 * lay.seg_rating_kw, 0.1 * lay.sub_rating_kw)


class Broken(Strategy):
    """A researcher's bug: not an ersgrid error, still recorded and not fatal to the sweep."""

    name = "broken"

    def decide(self, observation: Observation) -> Dispatch:
        raise RuntimeError(f"bug at step {observation.step}")


class KillOnce(Strategy):
    """Kills its worker process the first time it runs (marker file absent), then behaves."""

    name = "kill-once"

    def reset(self, context: RunContext) -> None:
        marker = Path(os.environ[KILL_MARKER])
        if not marker.exists():
            marker.write_text(str(os.getpid()), encoding="utf-8")
            os._exit(13)  # the worker dies abruptly: no exception, no cleanup
        super().reset(context)

    def decide(self, observation: Observation) -> Dispatch:
        lay = self.context.layout
        return Dispatch(lay.seg_rating_kw.copy(), lay.sub_rating_kw.copy())


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers (spawned processes) find this module and run numba single-threaded."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", str(HERE) + (os.pathsep + path if path else ""))
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")


@pytest.mark.usefixtures("worker_env")
def test_local_sweep_records_failures_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    strategies = ["uncontrolled", f"{__name__}:HalfPower", f"{__name__}:Broken", "no-such"]
    params = {"traffic.daily_volume": [4000, 8000]}
    res = run_sweep("tiny", params, strategies, 0.25, out, workers=2)
    table = res.table
    assert (res.executed, res.resumed, len(table)) == (8, 0, 8)
    assert list(table.columns[:4]) == ["run_id", "traffic.daily_volume", "strategy", "status"]
    by = table.set_index(["traffic.daily_volume", "strategy"])
    assert (by.xs("uncontrolled", level=1)["status"] == "ok").all()
    half_name = f"{__name__}:HalfPower"  # rows keep the name as given
    assert (by.xs(half_name, level=1)["status"] == "ok").all()
    broken = by.xs(f"{__name__}:Broken", level=1)
    assert (broken["error_type"] == "RuntimeError").all()
    assert broken["error"].str.contains("bug at step 0").all()
    unknown = by.xs("no-such", level=1)
    assert (unknown["error_type"] == "StrategyError").all()
    assert unknown["error"].str.contains("unknown strategy 'no-such'").all()
    assert res.failed == 4
    # The plug-in ran for real: capped substations deliver less than uncontrolled.
    for volume in (4000, 8000):
        half = by.loc[(volume, half_name), "energy_delivered_kwh"]
        base = by.loc[(volume, "uncontrolled"), "energy_delivered_kwh"]
        assert 0 < half < base
    # More traffic draws more energy under the same strategy.
    assert (
        by.loc[(8000, "uncontrolled"), "energy_delivered_kwh"]
        > by.loc[(4000, "uncontrolled"), "energy_delivered_kwh"]
    )
    # Each run streamed its own results folder; the table on disk is the returned one.
    for _, row in table[table["status"] == "ok"].iterrows():
        kpis = json.loads((out / row["results"] / "kpis.json").read_text(encoding="utf-8"))
        assert kpis["energy_cost"] == pytest.approx(row["energy_cost"])
        assert (out / row["results"] / "timeseries.parquet").is_file()
    for _, row in table[table["status"] != "ok"].iterrows():
        assert "Traceback" in (out / "runs" / row["run_id"] / "error.txt").read_text("utf-8")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sweep.parquet"), table)
    assert "Pareto front" in (out / "report.html").read_text(encoding="utf-8")
    assert len({w for w in table["worker"]}) == 2  # both worker processes took runs

    # Started again with the same --out: nothing is redone, the rows are the stored ones.
    again = run_sweep("tiny", params, strategies, 0.25, out, workers=2)
    assert (again.executed, again.resumed) == (0, 8)
    pd.testing.assert_frame_equal(again.table, table)

    # --retry-failed runs exactly the failed ones again; finished rows stay untouched.
    retried = run_sweep("tiny", params, strategies, 0.25, out, workers=1, retry_failed=True)
    assert (retried.executed, retried.resumed) == (4, 4)
    ok = table["status"] == "ok"
    assert retried.table.loc[ok, "finished_at"].tolist() == table.loc[ok, "finished_at"].tolist()
    assert (retried.table.loc[~ok, "finished_at"] > table.loc[~ok, "finished_at"]).all()


@pytest.mark.usefixtures("worker_env")
def test_a_dying_worker_has_its_task_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "killed.pid"
    monkeypatch.setenv(KILL_MARKER, str(marker))
    res = run_sweep("tiny", {}, [f"{__name__}:KillOnce"], 0.25, tmp_path / "s", workers=1)
    row = res.table.iloc[0]
    assert marker.is_file(), "the task never killed its worker"
    dead_pid = int(marker.read_text(encoding="utf-8"))
    assert row["status"] == "ok", row["error"]
    assert int(row["worker"].rsplit(":", 1)[1]) != dead_pid  # re-run on the restarted worker
    assert row["energy_delivered_kwh"] > 0
