"""Forecasts the planners plan on: the protocols ``mpc`` takes its traffic and renewable
forecasts through, the traffic model's expected profile, a splice of two forecasters (the
learned one as far as it reaches, another beyond) and the carrying of a learned quantile past
the learned forecast's reach (:class:`QuantileCarried`), and a forecast between two quantiles
(:class:`Blended`)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from ersgrid.control.base import RunContext

__all__ = [
    "Blended", "ExpectedProfile", "QuantileCarried", "RenewableForecaster", "Spliced",
    "TrafficForecaster", "blend_weight",
]  # fmt: skip


class TrafficForecaster(Protocol):
    """Forecasts vehicles entering the corridor; plug a trained model in here."""

    def forecast(self, context: RunContext, issued: int, start: int, stop: int) -> pd.DataFrame:
        """Expected vehicles entering in run steps ``start .. stop - 1`` [veh/step], all
        vehicles, columns ``<class>_<direction>``, issued at the start of step ``issued``."""
        ...


class RenewableForecaster(Protocol):
    """Forecasts of the output of all PV arrays and all wind farms (optional beside traffic)."""

    def renewables(self, context: RunContext, issued: int, stop: int) -> dict[str, pd.DataFrame]:
        """``pv`` / ``wind`` → P10, P50, P90 [kW] for run steps ``issued .. stop - 1``."""
        ...


class ExpectedProfile:
    """The traffic model's expected profile (no learning): ``context.expected_volume``.

    Steps before the run (vehicles already on the road at its start) repeat the first
    step's expectation.
    """

    def forecast(self, context: RunContext, issued: int, start: int, stop: int) -> pd.DataFrame:
        vol = context.expected_volume
        rows = np.clip(np.arange(start, stop), 0, len(vol) - 1)
        return vol.iloc[rows].reset_index(drop=True)


class Spliced:
    """Traffic from ``near`` up to ``reach`` steps past the issue, from ``far`` beyond."""

    def __init__(self, near: TrafficForecaster, far: TrafficForecaster, reach: int) -> None:
        self.near, self.far, self.reach = near, far, reach

    def forecast(self, context: RunContext, issued: int, start: int, stop: int) -> pd.DataFrame:
        cut = min(stop, issued + self.reach)
        parts = [self.near.forecast(context, issued, start, cut)]
        if stop > cut:
            parts.append(self.far.forecast(context, issued, cut, stop))
        return pd.concat(parts).reset_index(drop=True)


def blend_weight(weight: float) -> float:
    """``weight`` as a float if it is within 0 and 1 (:class:`Blended`); else ValueError."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight {weight} must be within 0 and 1 (0: the low forecast, 1: the "
                         "high one)")  # fmt: skip
    return float(weight)


class Blended:
    """``low``'s traffic plus ``weight`` times (``high``'s minus ``low``'s), column by column:
    a forecast between two quantiles (``weight`` 0: ``low``; 1: ``high``)."""

    def __init__(self, low: TrafficForecaster, high: TrafficForecaster, weight: float) -> None:
        self.low, self.high, self.weight = low, high, blend_weight(weight)

    def forecast(self, context: RunContext, issued: int, start: int, stop: int) -> pd.DataFrame:
        low = self.low.forecast(context, issued, start, stop)
        high = self.high.forecast(context, issued, start, stop)
        return low + self.weight * (high[low.columns] - low)


class QuantileCarried:
    """``far``'s traffic scaled, column by column, by the ratio of ``quantile`` to ``median``
    over the ``reach`` steps from the issue: a learned quantile carried past the learned
    forecast's reach.

    ``mpc``'s guide plans on the learned P90 for 48 h and on the traffic model's calendar
    profile beyond. Spliced as they are, the first two days of every guide look heavier than
    the rest (a P90 against a mean), so the guide spends the batteries on them and meets the
    later days empty, and over shin-tomei's week the peak crept up day by day (docs/journal.md,
    "Why mpc's week-long peak crept"). Scaling the profile by the learned P90/P50 ratio of the
    48 h keeps the whole guide on one quantile.
    """

    def __init__(
        self, far: TrafficForecaster, quantile: TrafficForecaster, median: TrafficForecaster,
        reach: int,
    ) -> None:  # fmt: skip
        self.far, self.quantile, self.median, self.reach = far, quantile, median, reach

    def ratio(self, context: RunContext, issued: int) -> pd.Series:
        """Quantile over median traffic [-] per column, summed over the ``reach`` steps from
        ``issued`` (1 where the median is zero)."""
        stop = issued + self.reach
        high = self.quantile.forecast(context, issued, issued, stop).sum()
        mid = self.median.forecast(context, issued, issued, stop).sum()
        return (high / mid.where(mid > 0.0)).fillna(1.0)

    def forecast(self, context: RunContext, issued: int, start: int, stop: int) -> pd.DataFrame:
        out = self.far.forecast(context, issued, start, stop)
        ratio = self.ratio(context, issued)
        return out * ratio.reindex(out.columns).fillna(1.0)
