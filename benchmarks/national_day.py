"""One simulated day of the national-scale corridor (xinjiang-g30): wall time and peak memory.

660 km of G30 with 520 km of catenary in each direction (1,040 power units of 1 km) and 26
substations, at the twin's 1 s step. Printed: wall and CPU time of the run alone and of writing
its results folder, the process's peak resident memory, vehicle-steps per second, and the
machine's load average (other processes share the cores).

Usage: ``python benchmarks/national_day.py [--strategy NAME] [--days D] [--scenario NAME]``
(``--strategy mpc`` once the planner exists).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from ersgrid import build_layout, load_scenario, run
from ersgrid.run.results import write_results


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="uncontrolled")
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--scenario", default="xinjiang-g30")
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
    res = run(sc, args.strategy, days=args.days)
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
    one, five, _ = os.getloadavg()
    print(f"after: load {one:.2f} (1 min) {five:.2f} (5 min)")


if __name__ == "__main__":
    main()
