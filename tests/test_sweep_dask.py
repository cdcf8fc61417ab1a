"""A sweep on its own LocalCluster whose worker dies mid-task: Dask re-runs the task, and a
run that keeps killing its worker is recorded as failed.

The plug-in strategy below is looked up by the worker as ``test_sweep_dask:KillOnce``, so the
test puts this folder on the workers' PYTHONPATH.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ersgrid import Dispatch, Observation, RunContext, Strategy
from ersgrid.study import run_sweep

pytest.importorskip("distributed")

HERE = Path(__file__).resolve().parent
KILL_MARKER = "ERSGRID_TEST_KILL_MARKER"


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


class KillAlways(KillOnce):
    """Kills its worker process every time: Dask gives up and the run is recorded as failed."""

    name = "kill-always"

    def reset(self, context: RunContext) -> None:
        os._exit(13)


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers (spawned processes) find this module and run numba single-threaded."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", str(HERE) + (os.pathsep + path if path else ""))
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")


@pytest.mark.usefixtures("worker_env")
def test_a_dying_worker_has_its_task_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dask

    marker = tmp_path / "killed.pid"
    monkeypatch.setenv(KILL_MARKER, str(marker))
    # One failure allowed per task. KillOnce dies once (a run beside it on the dying worker
    # may lose one attempt too) and is re-run; it then matches an uncontrolled run.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        res = run_sweep(
            "tiny", {}, [f"{__name__}:KillOnce", "uncontrolled"], 0.25, tmp_path / "s",
            workers=1,
        )  # fmt: skip
    once, plain = (r for _, r in res.table.iterrows())
    assert marker.is_file(), "the task never killed its worker"
    dead_pid = int(marker.read_text(encoding="utf-8"))
    assert once["status"] == "ok", once["error"]
    assert plain["status"] == "ok", plain["error"]
    assert int(once["worker"].rsplit(":", 1)[1]) != dead_pid  # re-run on the restarted worker
    assert once["energy_delivered_kwh"] == pytest.approx(plain["energy_delivered_kwh"])

    # A run that keeps killing its worker is recorded as failed, and the sweep finishes.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        res = run_sweep("tiny", {}, [f"{__name__}:KillAlways"], 0.25, tmp_path / "k", workers=1)
    always = res.table.iloc[0]
    assert always["status"] == "failed"
    assert always["error_type"] == "KilledWorker"
    assert "died while running it" in always["error"]
    stored = json.loads((tmp_path / "k" / "runs" / always["run_id"] / "row.json").read_text())
    assert stored["error_type"] == "KilledWorker"
    assert (tmp_path / "k" / "sweep.parquet").is_file()
