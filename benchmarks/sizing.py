"""``ersgrid size`` on a full corridor: build and solve time, LP size, peak memory.

    python benchmarks/sizing.py [--scenario shin-tomei] [-k 12] [--profile-points 0]
                                [--connections] [--pv]

clusters the year into K typical days, builds the sizing LP (one oracle LP per typical day,
stacked with the size columns), solves it with HiGHS on one thread, and prints the time of
each stage, the LP's rows, columns and non-zeros, the peak resident memory of the process,
the sizes chosen and the annual cost. With ``--connections`` the grid connections' import
capacity and with ``--pv`` the PV at each substation with arrays are sized too; with
``--profile-points`` it also times the profile (each point one warm re-solve). The goal on
a 2-core machine: under 10 min and 4 GB for shin-tomei with 12 typical days.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from ersgrid.scenario.loader import load_scenario
from ersgrid.study.sizing import SizingOptions, size_storage
from ersgrid.study.typical_days import typical_days


def commit() -> str:
    """The checkout's short commit, or ``unknown`` outside git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="shin-tomei")
    parser.add_argument("-k", "--typical-days", type=int, default=12)
    parser.add_argument("--profile-points", type=int, default=0)
    parser.add_argument("--connections", action="store_true")
    parser.add_argument("--pv", action="store_true")
    args = parser.parse_args()
    sc = load_scenario(args.scenario)
    print(f"commit {commit()}  python {platform.python_version()}  cores {os.cpu_count()}")
    print(f"load average at start: {os.getloadavg()}")
    t0 = time.perf_counter()
    typical = typical_days(sc, args.typical_days)
    cluster_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    options = SizingOptions(
        connections=args.connections, pv=args.pv, profile_points=args.profile_points
    )
    sizing = size_storage(sc, typical, options=options)
    total_s = time.perf_counter() - t1
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    lp = sizing.lp
    print(f"{sc.name}, {len(typical.dates)} typical days: {sizing.units} storage units")
    print(f"clustering            {cluster_s:8.1f} s")
    print(f"build (day LPs + LP)  {sizing.build_s:8.1f} s")
    print(f"solve (HiGHS, 1 thr.) {sizing.solve_s:8.1f} s")
    if args.profile_points:
        print(f"profile ({2 * args.profile_points} solves)  {sizing.profile_s:8.1f} s")
    print(f"size total            {total_s:8.1f} s")
    print(f"LP: {lp['rows']:,} rows, {lp['columns']:,} columns, {lp['nonzeros']:,} non-zeros")
    print(f"peak RSS              {rss_gb:8.2f} GB")
    for name, value in sizing.sizes.items():
        print(f"{name:22s}{value:12.1f}")
    print(f"annual cost           {sizing.annual_cost:14,.0f} {sizing.currency}/a")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
