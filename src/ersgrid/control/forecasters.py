"""Forecasts the planners plan on: the protocols ``mpc`` takes its traffic and renewable
forecasts through, the traffic model's expected profile, and a splice of two forecasters (the
learned one as far as it reaches, another beyond)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from ersgrid.control.base import RunContext

__all__ = ["ExpectedProfile", "RenewableForecaster", "Spliced", "TrafficForecaster"]


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
