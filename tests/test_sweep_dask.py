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
    strategies = [f"{__name__}:KillOnce", f"{__name__}:KillAlways", "uncontrolled"]
    # One failure allowed per task: KillOnce survives its one death, KillAlways dies twice.
    # One task in flight per worker thread, so a death counts only against the task that
    # was running (with the default queue a neighbour waiting on the same worker counts too).
    config = {
        "distributed.scheduler.allowed-failures": 1,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(config):
        res = run_sweep("tiny", {}, strategies, 0.25, tmp_path / "s", workers=1)
    once, always, plain = (r for _, r in res.table.iterrows())
    assert marker.is_file(), "the task never killed its worker"
    dead_pid = int(marker.read_text(encoding="utf-8"))
    assert once["status"] == "ok", once["error"]
    assert int(once["worker"].rsplit(":", 1)[1]) != dead_pid  # re-run on the restarted worker
    assert once["energy_delivered_kwh"] == pytest.approx(plain["energy_delivered_kwh"])
    # A run that keeps killing its worker is recorded as failed and the sweep goes on.
    assert always["status"] == "failed"
    assert always["error_type"] == "KilledWorker"
    assert plain["status"] == "ok"
    stored = json.loads((tmp_path / "s" / "runs" / always["run_id"] / "row.json").read_text())
    assert stored["error_type"] == "KilledWorker"


START_LOG = "ERSGRID_TEST_WORKER_STARTS"
FAIL_START = "ERSGRID_TEST_FAIL_START"


@pytest.mark.usefixtures("worker_env")
def test_a_cluster_left_without_workers_is_given_fresh_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker dies, its nanny's restart fails: the sweep does not wait forever."""
    import dask

    from ersgrid.study import sweep

    starts = tmp_path / "starts.txt"
    monkeypatch.setenv(KILL_MARKER, str(tmp_path / "killed.pid"))
    monkeypatch.setenv(START_LOG, str(starts))
    monkeypatch.setenv(FAIL_START, "2")  # the nanny's restart after the kill
    monkeypatch.setattr(sweep, "LOCAL_NO_WORKER_S", 5.0)
    config = {"distributed.worker.preload": ["sweep_failing_start"]}
    with dask.config.set(config), caplog.at_level("WARNING", logger="ersgrid.study.sweep"):
        res = run_sweep("tiny", {}, [f"{__name__}:KillOnce"], 0.25, tmp_path / "s", workers=1)
    assert res.table["status"].tolist() == ["ok"], res.table["error"].tolist()
    assert len(starts.read_text(encoding="utf-8").split()) == 3  # first, failed restart, fresh
    assert "starting 1 fresh worker(s), attempt 1 of 3" in caplog.text


@pytest.mark.usefixtures("worker_env")
def test_a_cluster_that_cannot_be_revived_stops_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker start after the kill fails: a clear error, and no row is lost."""
    import dask

    from ersgrid.errors import SweepError
    from ersgrid.study import sweep

    monkeypatch.setenv(KILL_MARKER, str(tmp_path / "killed.pid"))
    monkeypatch.setenv(START_LOG, str(tmp_path / "starts.txt"))
    monkeypatch.setenv(FAIL_START, "2")
    monkeypatch.setattr(sweep, "LOCAL_NO_WORKER_S", 5.0)
    monkeypatch.setattr(sweep, "LOCAL_REVIVALS", 0)
    config = {"distributed.worker.preload": ["sweep_failing_start"]}
    with dask.config.set(config), pytest.raises(SweepError, match="no Dask worker") as err:
        run_sweep("tiny", {}, [f"{__name__}:KillOnce"], 0.25, tmp_path / "s", workers=1)
    assert "run the same sweep again with the same --out" in str(err.value)
    assert (tmp_path / "s" / "sweep.json").is_file()
