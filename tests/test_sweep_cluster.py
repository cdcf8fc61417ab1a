"""Sweeps against real processes: a separately started Dask scheduler and worker, and a
``ersgrid sweep`` command killed midway and started again (it resumes).

The plug-in strategies are looked up by the workers as ``test_sweep_cluster:ClassName``; the
tests put this folder on the PYTHONPATH of every process they start.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ersgrid import Dispatch, Observation, RunContext, Strategy
from ersgrid.study import run_sweep

pytest.importorskip("distributed")

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


class Slow(Strategy):
    """Uncontrolled, but each run first waits 0.5 s, so a sweep can be killed midway."""

    name = "slow"

    def reset(self, context: RunContext) -> None:
        time.sleep(0.5)
        super().reset(context)

    def decide(self, observation: Observation) -> Dispatch:
        lay = self.context.layout
        return Dispatch(lay.seg_rating_kw.copy(), lay.sub_rating_kw.copy())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE) + (os.pathsep + env["PYTHONPATH"] if "PYTHONPATH" in env else "")
    env["NUMBA_NUM_THREADS"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"no Dask scheduler on 127.0.0.1:{port} after {timeout_s} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and one ``dask worker`` (1 thread), started as processes."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "scheduler.log").open("wb")
    scheduler = subprocess.Popen(
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], env=_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = None
    try:
        _wait_for_port(port, scheduler)
        worker = subprocess.Popen(
            [BIN / "dask", "worker", address, "--nthreads", "1", "--nworkers", "1",
             "--no-dashboard", "--name", "ersgrid-test-worker"],
            env=_env(), stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
        yield address
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)
        log.close()


def test_sweep_on_a_separately_started_scheduler(dask_scheduler: str, tmp_path: Path) -> None:
    out = tmp_path / "remote"
    strategies = ["uncontrolled", f"{__name__}:Slow", "no-such"]
    res = run_sweep(
        "tiny", {"traffic.daily_volume": [4000, 8000]}, strategies, 0.25, out,
        scheduler=dask_scheduler,
    )  # fmt: skip
    table = res.table
    assert (res.executed, len(table)) == (6, 6)
    assert table["status"].tolist().count("ok") == 4
    assert set(table.loc[table["status"] != "ok", "error_type"]) == {"StrategyError"}
    pids = {int(w.rsplit(":", 1)[1]) for w in table["worker"]}
    assert len(pids) == 1  # the one worker process of the cluster ran every run ...
    assert os.getpid() not in pids  # ... not this process
    ok = table[table["status"] == "ok"].set_index(["traffic.daily_volume", "strategy"])
    # Same scenario, same seed: the plug-in (uncontrolled but slow) gives the same energy.
    for volume in (4000, 8000):
        assert ok.loc[(volume, f"{__name__}:Slow"), "energy_delivered_kwh"] == pytest.approx(
            ok.loc[(volume, "uncontrolled"), "energy_delivered_kwh"]
        )
    assert (out / "report.html").is_file()


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    import dask

    from ersgrid.errors import SweepError

    timeout = {"distributed.comm.timeouts.connect": "2s"}
    with dask.config.set(timeout), pytest.raises(SweepError, match="cannot reach the Dask"):
        run_sweep(
            "tiny", {}, ["uncontrolled"], 0.25, tmp_path,
            scheduler=f"tcp://127.0.0.1:{_free_port()}",
        )  # fmt: skip


def _rows(out: Path) -> dict[str, dict[str, object]]:
    rows = {}
    for path in (out / "runs").glob("*/row.json"):
        rows[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return rows


def test_cli_sweep_killed_midway_resumes(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cmd = [
        str(BIN / "ersgrid"), "sweep", "tiny",
        "--param", "traffic.daily_volume=3000,4000,5000,6000,7000,8000,9000,10000",
        "--strategies", f"{__name__}:Slow", "--days", "0.25", "--workers", "1",
        "--out", str(out), "--quiet",
    ]  # fmt: skip
    first = subprocess.Popen(cmd, env=_env(), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        end = time.monotonic() + 120
        while len(_rows(out)) < 2 and time.monotonic() < end and first.poll() is None:
            time.sleep(0.05)
    finally:
        # Kill the sweep and its worker processes at once, as a crash or `kill -9` would.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    before = _rows(out)
    assert 2 <= len(before) < 8, f"{len(before)} runs finished before the kill"
    assert not (out / "sweep.parquet").exists()

    second = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"{8 - len(before)} run now, {len(before)} resumed, 0 failed" in second.stdout
    after = _rows(out)
    assert len(after) == 8
    for run_id, row in before.items():
        assert after[run_id] == row  # finished runs were not redone
    table = pd.read_parquet(out / "sweep.parquet")
    assert sorted(table["traffic.daily_volume"]) == list(range(3000, 10001, 1000))
    assert (table["status"] == "ok").all()
