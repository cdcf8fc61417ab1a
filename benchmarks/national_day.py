"""One simulated day of the national-scale corridor (xinjiang-g30): wall time and peak memory.

660 km of G30 with 520 km of catenary in each direction (1,040 power units of 1 km) and 26
substations, at the twin's 1 s step. Printed: wall and CPU time of the run alone and of writing
its results folder, the process's peak resident memory, vehicle-steps per second, and the
machine's load average (other processes share the cores).

With ``--strategy mpc`` (or ``mpc-decomposed``) it also prints the planner's solve times per
re-plan, fallbacks, and, when the corridor is split into substation groups, the number of
groups, the Gauss–Seidel sweeps per re-plan and the group solves that timed out in a later
sweep and kept their earlier plan; ``--progress`` prints each re-plan as it ends, with the
memory resident then. On xinjiang-g30 ``mpc`` takes its ``large-corridor`` preset
(``MPC_PRESETS``: hourly re-plans, cohorts of an hour's entries, one entry state-of-charge
bin, two sweeps; docs/planning.md).

Usage: ``python benchmarks/national_day.py [--strategy NAME] [--days D] [--scenario NAME]
[--progress] [--workers N] [--set FIELD=VALUE,...]``; ``--workers N`` runs the groups' sweeps
Jacobi on N Dask workers, ``--set`` changes settings of the preset as
``benchmarks/mpc_variants.py`` reads them (e.g. ``--set keep_group_solvers=false``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from ersgrid import build_layout, load_scenario, run
from ersgrid.control.base import Strategy
from ersgrid.control.mpc import MPC
from ersgrid.control.registry import make_strategy
from ersgrid.results import write_results
from mpc_variants import settings_of  # the benchmark beside this one


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mb() -> float:
    """Resident memory now [MB] (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="uncontrolled")
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--scenario", default="xinjiang-g30")
    parser.add_argument("--progress", action="store_true", help="print each re-plan")
    parser.add_argument(
        "--workers", type=int, default=0,
        help="mpc: solve the substation groups by Jacobi sweeps on this many Dask workers",
    )  # fmt: skip
    parser.add_argument(
        "--set", default="", metavar="FIELD=VALUE,...",
        help="mpc: change these settings of the corridor's preset (e.g. keep_group_solvers=false)",
    )  # fmt: skip
    args = parser.parse_args()
    sc = load_scenario(args.scenario)
    lay = build_layout(sc)
    one, five, _ = os.getloadavg()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, python "
        f"{platform.python_version()}; load {one:.2f} (1 min) {five:.2f} (5 min)"
    )
    print(
        f"{sc.name}: {sc.road.length_km:g} km road, {sc.road.electrified_km:g} direction-km "
        f"electrified, {lay.n_segments} segments, {lay.n_substations} substations; "
        f"{args.strategy}, {args.days:g} day(s)"
    )
    run("tiny", "uncontrolled", days=0.25)  # load numba's cache outside the measurement
    base_rss = peak_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    policy: Strategy = make_strategy(args.strategy)
    if args.workers or args.set:
        if not isinstance(policy, MPC):
            parser.error("--workers and --set need --strategy mpc (or mpc-decomposed)")
        settings = policy.settings_for(lay.n_substations)
        if args.set:
            settings = settings_of(args.set, settings)
        if args.workers:
            settings = dataclasses.replace(settings, workers=args.workers)
        policy = type(policy)(settings)
    tick = None
    if args.progress:
        last = [time.perf_counter()]

        def tick(done: int, total: int) -> None:
            now = time.perf_counter()
            extra = ""
            if isinstance(policy, MPC) and policy.solve_s:
                extra = f", solve {policy.solve_s[-1]:.2f} s"
                if policy.sweeps:
                    extra += f", {policy.sweeps[-1]} sweeps"
            print(f"  step {done}/{total}: {now - last[0]:6.2f} s wall{extra}, "
                  f"{rss_mb():,.0f} MB resident", flush=True)  # fmt: skip
            last[0] = now

    res = run(sc, policy, days=args.days, progress=tick)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    run_rss = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t1, c1 = time.perf_counter(), time.process_time()
        write_results(res, Path(tmp) / "out")
        wwall, wcpu = time.perf_counter() - t1, time.process_time() - c1
    k = res.kpis
    print(f"run:            {wall:7.2f} s wall, {cpu:7.2f} s CPU")
    print(f"write results:  {wwall:7.2f} s wall, {wcpu:7.2f} s CPU")
    print(
        f"peak RSS:       {base_rss:7.0f} MB before, {run_rss:7.0f} MB after the run, "
        f"{peak_rss_mb():7.0f} MB after writing"
    )
    print(
        f"vehicle-steps:  {k['vehicle_steps']:,} ({k['vehicle_steps'] / cpu / 1e6:.2f} M per CPU "
        f"second); trips {k['trips']:,}; delivered {k['energy_delivered_kwh']:,.0f} kWh; peak "
        f"import {k['peak_import_kw']:,.0f} kW; violations {k['limit_violations']}"
    )
    if isinstance(policy, MPC):
        solve = np.array(policy.solve_s)
        print(
            f"planner:        {len(solve)} re-plans, fallbacks {policy.fallbacks}; HiGHS "
            f"{solve.sum():.1f} s in all, per re-plan median {np.median(solve):.2f} s, "
            f"p95 {np.percentile(solve, 95):.2f} s, max {solve.max():.2f} s"
        )
        groups = policy.groups_per_plan
        if groups:
            sweeps = np.array(policy.sweeps)
            print(
                f"decomposed:     {groups} substation groups; sweeps per re-plan mean "
                f"{sweeps.mean():.2f}, max {sweeps.max()}; group solves timed out and "
                f"skipped {policy.skipped}"
            )
    print(
        f"KPIs:           objective {k['objective']:,.0f}; energy cost {k['energy_cost']:,.0f}; "
        f"cost per kWh delivered {k['energy_cost'] / max(k['energy_delivered_kwh'], 1e-9):.3f}; "
        f"unmet {k['unmet_energy_kwh']:,.0f} kWh"
    )
    one, five, _ = os.getloadavg()
    print(f"after: load {one:.2f} (1 min) {five:.2f} (5 min)")


if __name__ == "__main__":
    main()
