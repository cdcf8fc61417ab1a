"""Sweeps against real processes: a separately started Dask scheduler and workers, and an
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
from ersgrid.results import write_results
from ersgrid.study import run_sweep

pytest.importorskip("distributed")

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


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


class Slow(Strategy):
    """Uncontrolled, but each run first waits 0.3 s, so a sweep can be killed midway."""

    name = "slow"

    def reset(self, context: RunContext) -> None:
        time.sleep(0.3)
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


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``dask scheduler`` and a ``dask worker`` of 2 processes (1 thread each), started
    as processes of their own."""
    tmp_path = tmp_path_factory.mktemp("dask")
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
            [BIN / "dask", "worker", address, "--nthreads", "1", "--nworkers", "2",
             "--no-dashboard", "--name", "ersgrid-test-worker"],
            env=_env(), stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
        from distributed import Client

        with Client(address) as client:  # both worker processes up before any test submits
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in (worker, scheduler):  # stop both at once, then wait
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in (worker, scheduler):
            if proc is not None:
                _stop(proc)
        log.close()


def test_sweep_on_a_separate_scheduler_records_failures_and_resumes(
    dask_scheduler: str, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    strategies = ["uncontrolled", f"{__name__}:HalfPower", f"{__name__}:Broken", "no-such"]
    params = {"traffic.daily_volume": [4000, 8000]}
    res = run_sweep(
        "tiny", params, strategies, 0.25, out, scheduler=dask_scheduler, writer=write_results
    )
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
    pids = {int(w.rsplit(":", 1)[1]) for w in table["worker"]}
    assert len(pids) == 2  # both worker processes of the separate cluster took runs ...
    assert os.getpid() not in pids  # ... and none ran here

    # Started again with the same --out: nothing is redone, the rows are the stored ones.
    again = run_sweep("tiny", params, strategies, 0.25, out, scheduler=dask_scheduler)
    assert (again.executed, again.resumed) == (0, 8)
    pd.testing.assert_frame_equal(again.table, table)

    # --retry-failed runs exactly the failed ones again; finished rows stay untouched.
    retried = run_sweep(
        "tiny", params, strategies, 0.25, out, scheduler=dask_scheduler, retry_failed=True
    )
    assert (retried.executed, retried.resumed) == (4, 4)
    ok = table["status"] == "ok"
    assert retried.table.loc[ok, "finished_at"].tolist() == table.loc[ok, "finished_at"].tolist()
    assert (retried.table.loc[~ok, "finished_at"] > table.loc[~ok, "finished_at"]).all()


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


def test_cli_sweep_killed_midway_resumes(dask_scheduler: str, tmp_path: Path) -> None:
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
        end = time.monotonic() + 300
        while len(_rows(out)) < 2 and time.monotonic() < end and first.poll() is None:
            time.sleep(0.05)
    finally:
        # Kill the sweep and its worker processes at once, as a crash or `kill -9` would.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    before = _rows(out)
    assert 2 <= len(before) < 8, f"{len(before)} runs finished before the kill"
    assert not (out / "sweep.parquet").exists()

    # Started again with the same --out, this time on the separate cluster (--scheduler).
    second = subprocess.run(
        [*cmd, "--scheduler", dask_scheduler], env=_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert f"{8 - len(before)} run now, {len(before)} resumed, 0 failed" in second.stdout
    after = _rows(out)
    assert len(after) == 8
    for run_id, row in before.items():
        assert after[run_id] == row  # finished runs were not redone
    table = pd.read_parquet(out / "sweep.parquet")
    assert sorted(table["traffic.daily_volume"]) == list(range(3000, 10001, 1000))
    for row in after.values():  # the command line hands the tasks the results writer
        assert (out / row["results"] / "kpis.json").is_file()

    # Once more with --json: everything is finished, so nothing runs and no cluster starts.
    third = subprocess.run(
        [*cmd, "--json"], env=_env(), capture_output=True, text=True, timeout=300
    )  # fmt: skip
    assert third.returncode == 0, third.stderr
    data = json.loads(third.stdout)  # stdout is the JSON document and nothing else
    assert (data["runs"], data["executed"], data["resumed"], data["failed"]) == (8, 0, 8, 0)
    assert {r["run_id"] for r in data["rows"]} == set(after)
    assert (table["status"] == "ok").all()
    second_pids = {int(str(after[r]["worker"]).rsplit(":", 1)[1]) for r in after if r not in before}
    first_pids = {int(str(row["worker"]).rsplit(":", 1)[1]) for row in before.values()}
    assert not second_pids & first_pids  # the rest ran on the other cluster's workers
