"""A year from typical days against the full calendar year, for K = 8, 12, 16.

The full year is every day of the calendar year run in order, each day continuing the
previous one's end state (vehicles, batteries, meters: the same as one long run, see
``tests/test_chained_runs.py``), its KPIs combined with ``combine_kpis``. It takes a while
(a shin-tomei day is several seconds), so it is run once and read from a file:

    python benchmarks/typical_days.py --run-year /tmp/shin-tomei-year.json

writes the year's KPIs there (and each day's, as they finish, to ``<file>.days.jsonl``).
Then

    python benchmarks/typical_days.py --year-kpis /tmp/shin-tomei-year.json

clusters the year into K typical days for each K, runs each typical day once as a fresh
1-day run (warm-up included; a date shared by two K runs once), combines them with their
weights, and prints the annual energy delivered and energy cost of both and the shortcut's
error, with the time the clustering and the runs took. With the per-day file beside it, it
also prints the clustering's own error: the same weights on the full year's own days (no
warm-up, no fresh start), which tells the choice of days from the day runs' boundaries.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from ersgrid.jsonsafe import json_safe
from ersgrid.run.kpis import combine_kpis
from ersgrid.run.runner import run
from ersgrid.scenario.loader import load_scenario
from ersgrid.study.typical_days import TypicalDays, typical_days, year_kpis

FIGURES = ("energy_delivered_kwh", "energy_cost", "import_cost", "peak_import_kw")


def run_year(name: str, strategy: str, year: int | None, out: Path) -> None:
    sc = load_scenario(name)
    year = sc.simulation.start.year if year is None else year
    day = dt.date(year, 1, 1)
    state = None
    blocks: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with open(f"{out}.days.jsonl", "w", encoding="utf-8") as fh:
        while day.year == year:
            t = time.perf_counter()
            if state is None:
                r = run(sc, strategy, days=1, start=day)
            else:
                r = run(sc, strategy, days=1, start_state=state)
            state = r.end_state
            blocks.append(dict(r.kpis))
            row = {"date": day.isoformat(), "wall_s": time.perf_counter() - t, "kpis": r.kpis}
            fh.write(json.dumps(json_safe(row)) + "\n")
            fh.flush()
            day += dt.timedelta(days=1)
    total = combine_kpis(blocks)
    total["year_wall_time_s"] = time.perf_counter() - t0
    out.write_text(json.dumps(json_safe(total), indent=1), encoding="utf-8")
    print(f"{name} / {strategy} {year}: {len(blocks)} days in {total['year_wall_time_s']:.0f} s")


def own_days(path: Path, typical: TypicalDays) -> dict[str, Any] | None:
    """The typical days' weights on the full year's own (chained) days."""
    if not path.is_file():
        return None
    by_date = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_date[row["date"]] = row["kpis"]
    if any(d.isoformat() not in by_date for d in typical.dates):
        return None
    return year_kpis(typical, [by_date[d.isoformat()] for d in typical.dates])


def compare(name: str, strategy: str, year: int | None, ks: list[int], full_path: Path) -> None:
    full = json.loads(full_path.read_text(encoding="utf-8"))
    sc = load_scenario(name)
    print(f"{name} / {strategy}, full year from {full_path} ({full['days']:g} days, "
          f"{full.get('year_wall_time_s', float('nan')):.0f} s)")  # fmt: skip
    cache: dict[dt.date, dict[str, Any]] = {}
    rows = []
    for k in ks:
        t0 = time.perf_counter()
        typical = typical_days(sc, k, year)
        t_cluster = time.perf_counter() - t0
        ran = 0
        for day in typical.dates:
            if day not in cache:
                cache[day] = dict(run(sc, strategy, days=1, start=day).kpis)
                ran += 1
        t_runs = time.perf_counter() - t0 - t_cluster
        est = year_kpis(typical, [cache[d] for d in typical.dates])
        own = own_days(Path(f"{full_path}.days.jsonl"), typical)
        rows.append((k, typical, est, own, t_cluster, t_runs, ran))
    print(f"{platform.node()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'K':>3} {'figure':<22} {'full year':>16} {'typical days':>16} {'error':>8}"
          f" {'own days':>9}")  # fmt: skip
    for k, typical, est, own, t_cluster, t_runs, ran in rows:
        for key in FIGURES:
            err = est[key] / full[key] - 1.0
            own_err = f"{own[key] / full[key] - 1.0:+9.2%}" if own is not None else ""
            print(f"{k:>3} {key:<22} {full[key]:>16,.0f} {est[key]:>16,.0f} {err:>+8.2%}"
                  f" {own_err}")  # fmt: skip
        days = ", ".join(f"{d:%m-%d}×{w}" for d, w in zip(typical.dates, typical.weights,
                                                           strict=True))  # fmt: skip
        print(f"    clustering {t_cluster:.1f} s, {ran} new day runs {t_runs:.1f} s; {days}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="shin-tomei")
    parser.add_argument("--strategy", default="uncontrolled")
    parser.add_argument("--year", type=int, default=None)
    parser.add_argument("--ks", default="8,12,16", help="comma-separated K")
    parser.add_argument("--run-year", type=Path, default=None, help="run the full year into")
    parser.add_argument("--year-kpis", type=Path, default=Path("/tmp/shin-tomei-year.json"))
    args = parser.parse_args()
    if args.run_year is not None:
        run_year(args.scenario, args.strategy, args.year, args.run_year)
        return
    ks = [int(k) for k in args.ks.split(",") if k.strip()]
    compare(args.scenario, args.strategy, args.year, ks, args.year_kpis)


if __name__ == "__main__":
    main()
