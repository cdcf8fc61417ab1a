"""Benchmark: ``mpc``'s settings side by side on the realised objective and the re-plans' cost.

Runs one scenario under ``mpc`` with its default settings and with each variant given (a
preset name such as ``every-step``, or ``field=value`` pairs of ``MPCSettings`` joined by commas,
e.g. ``replan_tolerance=0.1`` or ``soc_bins=2,compact_lp=true``), one after another on the
same draws, and prints for each the realised objective (lower is better; also its change
against the default's), peak import, unmet energy, the network penalty (the price of the
excess over the network's limits in the objective), limit violations and fallbacks, the
re-plans solved and skipped, and the wall and CPU time of the steps that solved a plan
(median and in all) with HiGHS's own time. Timings on a machine shared with other work grow
with its load (printed with each run); the objective does not depend on it.

The first ``mpc`` run of a scenario and start fits the forecasting models (about a minute;
later runs load them from the cache): it is run once first and not printed.

Usage: ``python benchmarks/mpc_variants.py [--scenario shin-tomei] [--days 1] [--reference
default] VARIANT ...``; ``--reference`` names the variant run first and compared with (the
default settings unless given).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from ersgrid.control.base import Dispatch, Observation
from ersgrid.control.mpc import MPC
from ersgrid.control.mpc_settings import MPCSettings, mpc_preset
from ersgrid.run import run


class TimedMPC(MPC):
    """``mpc`` timing each step at which it solves a plan."""

    def __init__(self, settings: MPCSettings) -> None:
        super().__init__(settings)
        self.wall_s: list[float] = []
        self.cpu_s: list[float] = []

    def decide(self, observation: Observation) -> Dispatch:
        t0, c0 = time.perf_counter(), time.process_time()
        solved = len(self.solve_s)
        dispatch = super().decide(observation)
        if len(self.solve_s) > solved:
            self.wall_s.append(time.perf_counter() - t0)
            self.cpu_s.append(time.process_time() - c0)
        return dispatch


def settings_of(variant: str, base: MPCSettings | None = None) -> MPCSettings:
    """A preset by name, or ``base`` (default: the default preset) with ``field=value,...``
    changed."""
    if "=" not in variant:
        return mpc_preset(variant)
    base = MPCSettings() if base is None else base
    changes: dict[str, object] = {}
    for item in variant.split(","):
        key, _, value = item.partition("=")
        current = getattr(base, key)
        if current is None:  # a setting off by default: a whole number when it reads as one
            changes[key] = int(value) if value.isdigit() else value
            continue
        kind = type(current)
        changes[key] = value.lower() == "true" if kind is bool else kind(value)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="shin-tomei")
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument(
        "--reference", default="default",
        help="the variant run first, which the others' objectives are compared with",
    )  # fmt: skip
    parser.add_argument("variants", nargs="*", default=["every-step"])
    args = parser.parse_args()
    run(args.scenario, TimedMPC(MPCSettings()), days=min(args.days, 0.0625))  # fits forecasts
    print(f"{args.scenario}, {args.days:g} days, {os.cpu_count()} cores")
    reference = None
    for variant in [args.reference, *args.variants]:
        policy = TimedMPC(settings_of(variant))
        t0, c0 = time.perf_counter(), time.process_time()
        k = run(args.scenario, policy, days=args.days).kpis
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        load = os.getloadavg()[0]
        reference = k["objective"] if reference is None else reference
        change = (k["objective"] - reference) / abs(reference) * 100.0 if reference else 0.0
        print(
            f"{variant:>24s}: objective {k['objective']:,.2f} ({change:+.3f} % against "
            f"{args.reference}), peak {k['peak_import_kw']:,.1f} "
            f"kW, unmet {k['unmet_energy_kwh']:,.1f} kWh, network penalty "
            f"{k.get('network_penalty', 0.0):,.0f}, violations {k['limit_violations']}, "
            f"fallbacks {k['fallbacks']}; re-plans {len(policy.solve_s)} solved, "
            f"{policy.replans_skipped} skipped; per solved step wall median "
            f"{np.median(policy.wall_s):.3f} s, CPU median {np.median(policy.cpu_s):.3f} s, "
            f"CPU in all {sum(policy.cpu_s):.1f} s, HiGHS in all {sum(policy.solve_s):.1f} s; "
            f"run {wall:.0f} s wall, {cpu:.0f} s CPU; load {load:.1f}"
        )


if __name__ == "__main__":
    main()
