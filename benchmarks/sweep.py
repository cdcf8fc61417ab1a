"""Sweep scaling: a 16-run sweep on 1 and 2 local Dask workers against a plain loop.

The 16 runs are shin-tomei, 7 days each (``--days 7`` of a planning study), uncontrolled, on a
4 × 4 grid of traffic volume and truck receiver share. Each run writes its full results
folder (as ``ersgrid run`` does), in the loop and in the sweep alike. Printed:

- the plain loop in this process (after one warm-up run, so numba's cache is loaded);
- the sweep's wall time on 1 and on 2 worker processes (cluster start and each worker's
  warm-up included, as a user sees it), and the cluster start alone;
- speed-up of 2 workers over 1 (goal: at least 1.8× on 2 cores) and over the plain loop;
- overhead per task: the 1-worker sweep's wall time less the loop's, per run, with and
  without the cluster start; and the 1-worker sweep's time outside its runs (its wall time
  less the runs' own wall time, cluster start included), per run, which the load on the
  machine moves less;
- the cores the runs actually obtained (their CPU time over the wall time): below the number
  of workers when other processes share the machine.

The machine's load average is printed before and after each phase: on a shared machine other
processes take cores from the workers, and the speed-up says so.

Usage: ``python benchmarks/sweep.py [--days D] [--scenario NAME] [--ledger]`` (each run writes its
results folder without the ledger, as the sweep does by default; ``--ledger`` writes it in both)
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from ersgrid.results import write_results
from ersgrid.run.runner import run
from ersgrid.study import build_runs, run_sweep

GRID = {
    "traffic.daily_volume": [30000, 40000, 50000, 58000],
    "vehicles.truck.receiver_share": [0.2, 0.4, 0.6, 0.8],
}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min)"


def cluster_start_s() -> float:
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )  # fmt: skip
    client = Client(cluster)
    elapsed = time.perf_counter() - t0
    client.close()
    cluster.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--scenario", default="shin-tomei")
    parser.add_argument(
        "--ledger", action="store_true", help="write each run's ledger too (sweep's --ledger)"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, python "
        f"{platform.python_version()}; {args.scenario}, {args.days:g} day(s) per run, "
        f"ledger {'on' if args.ledger else 'off'}"
    )
    runs = build_runs(args.scenario, GRID, ["uncontrolled"], args.days)
    work = Path(tempfile.mkdtemp(prefix="ersgrid-bench-sweep-"))
    try:
        print(f"before: {load()}")
        warm = run(runs[0].scenario, "uncontrolled", days=args.days)
        write_results(warm, work / "warm", ledger=args.ledger)
        t0, cpu0 = time.perf_counter(), time.process_time()
        for spec in runs:
            one = run(spec.scenario, spec.strategy, days=spec.days)
            write_results(one, work / "loop" / spec.run_id, ledger=args.ledger)
        loop_s, loop_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        print(
            f"plain loop, 16 runs:        {loop_s:7.2f} s ({loop_s / 16:.3f} s/run, CPU "
            f"{loop_cpu_s:.2f} s)   {load()}"
        )
        start_s = cluster_start_s()
        print(f"LocalCluster(2) start:      {start_s:7.2f} s")
        walls: dict[int, float] = {}
        busy: dict[int, float] = {}
        for n in (1, 2):
            t0 = time.perf_counter()
            res = run_sweep(
                args.scenario, GRID, ["uncontrolled"], args.days, work / f"sweep{n}",
                workers=n, report=False, ledger=args.ledger, writer=write_results,
            )  # fmt: skip
            walls[n] = time.perf_counter() - t0
            if res.failed or res.executed != 16:
                raise SystemExit(f"sweep on {n} worker(s): {res.failed} failed runs")
            busy[n] = res.table["wall_time_s"].sum()
            cpu = res.table["cpu_time_s"].sum()
            rss = res.table.sort_values("finished_at")["worker_peak_rss_mb"]
            print(
                f"sweep, {n} worker(s):       {walls[n]:7.2f} s (inside runs: wall {busy[n]:.2f} s,"
                f" CPU {cpu:.2f} s; worker peak RSS after first / last run: {rss.iloc[0]:.0f} / "
                f"{rss.iloc[-1]:.0f} MB)   {load()}"
            )
            # Cores the runs actually got: below n when other processes take the CPU.
            print(f"  cores obtained by the runs: {cpu / walls[n]:.2f} of {n}")
        print(f"speed-up 2 workers / 1:     {walls[1] / walls[2]:7.2f}x (goal >= 1.8x)")
        print(f"speed-up 2 workers / loop:  {loop_s / walls[2]:7.2f}x")
        per_task = (walls[1] - loop_s) / 16
        print(f"overhead per task (1 worker vs loop): {per_task * 1000:7.1f} ms with cluster "
              f"start, {(walls[1] - start_s - loop_s) / 16 * 1000:7.1f} ms without")  # fmt: skip
        # Steadier under load: the 1-worker sweep's time outside its runs' own wall time
        # (cluster start, scheduling, shipping the scenario and the row), per task.
        outside = (walls[1] - busy[1]) / 16
        print(f"time outside runs per task (1 worker, with cluster start): {outside * 1000:.1f} ms")
        print(f"plain loop CPU: {loop_cpu_s / loop_s:.2f} cores obtained")
        print(f"after: {load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
