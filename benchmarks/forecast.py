"""Fit and predict time of the forecasters on a year of 15-min history, single thread.

For each built-in study scenario and each forecast target: fit the default model (LightGBM
quantile boosting, three quantiles, 300 trees each, num_threads=1) on 365 days of generated
history (35,040 steps), then predict the 48-h planning horizon. Peers measured in the same run:
scikit-learn's HistGradientBoosting (same settings) and the seasonal-naive baseline.

Run: ``.venv/bin/python benchmarks/forecast.py [--scenario NAME ...] [--targets traffic demand]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import pandas as pd  # noqa: E402
from ersgrid.forecast.history import PROFILE_PREFIX, generate_history  # noqa: E402

from ersgrid.forecast.features import STEPS_PER_DAY, covariates  # noqa: E402
from ersgrid.forecast.forecaster import target_names  # noqa: E402
from ersgrid.forecast.models import GradientBoosting, SeasonalNaive, TargetModel  # noqa: E402
from ersgrid.scenario.loader import load_scenario  # noqa: E402


def _time(model: TargetModel, y: pd.Series, cov: pd.DataFrame) -> tuple[float, float]:
    train = y.iloc[: -2 * STEPS_PER_DAY]
    future = pd.DatetimeIndex(y.index[-2 * STEPS_PER_DAY :])
    t0 = time.perf_counter()
    model.fit(train, cov.loc[train.index])
    t1 = time.perf_counter()
    model.predict(train, cov, future)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", nargs="+", default=["shin-tomei", "e20"])
    parser.add_argument("--targets", nargs="*", default=None, help="default: every target")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, single thread")  # fmt: skip
    print("history: 365 days + 2 days of 15-min steps; predict: 192 steps (48 h)")
    header = (
        f"{'scenario':<11} {'target':<20} {'rows':>6} {'model':<22} {'fit s':>7} {'predict s':>9}"
    )
    print(header)
    print("-" * len(header))
    for name in args.scenario:
        sc = load_scenario(name)
        history = generate_history(sc, days=367)
        cov = covariates(pd.DatetimeIndex(history.index), sc.traffic.holidays_country, history)
        targets = args.targets or target_names(history)
        for target in targets:
            if target not in history.columns:
                print(f"{name:<11} {target:<20} {'':>6} (not in this scenario: skipped)")
                continue
            y = history[target]
            profile = f"{PROFILE_PREFIX}{target}"
            cov_t = cov.assign(profile=history[profile]) if profile in history else cov
            if not (y.abs() > 0).any():
                print(f"{name:<11} {target:<20} {'':>6} (zero throughout: skipped)")
                continue
            models: list[tuple[str, TargetModel]] = [
                ("lightgbm (3 quantiles)", GradientBoosting("lightgbm")),
                ("sklearn HGB (3 q.)", GradientBoosting("sklearn")),
                ("seasonal naive", SeasonalNaive()),
            ]
            for label, model in models:
                fit_s, predict_s = _time(model, y, cov_t)
                rows = len(y) - 2 * STEPS_PER_DAY
                print(
                    f"{name:<11} {target:<20} {rows:>6} {label:<22} {fit_s:>7.2f} {predict_s:>9.3f}"
                )


if __name__ == "__main__":
    main()
