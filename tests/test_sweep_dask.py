"""A sweep on its own LocalCluster whose worker dies mid-task: Dask re-runs the task.

The plug-in strategy below is looked up by the worker as ``test_sweep_dask:KillOnce``, so the
test puts this folder on the workers' PYTHONPATH.
"""

from __future__ import annotations

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


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers (spawned processes) find this module and run numba single-threaded."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", str(HERE) + (os.pathsep + path if path else ""))
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")


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
