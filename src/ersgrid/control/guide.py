"""The guide of ``mpc`` under a demand charge (see :mod:`ersgrid.control.mpc`): the traffic
it plans on and the stored energy its trajectory asks of the short plans."""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from ersgrid.control.forecasters import (
    Blended,
    ExpectedProfile,
    QuantileCarried,
    Spliced,
    TrafficForecaster,
    blend_weight,
)
from ersgrid.forecast.forecaster import LearnedTraffic
from ersgrid.forecast.models import QUANTILE_COLUMNS

__all__ = ["check_guide_quantile", "guide_path", "guide_traffic"]

FloatArray = npt.NDArray[np.float64]


def check_guide_quantile(quantile: str | float) -> str | float:
    """``quantile`` if it is one of the learned quantiles or a weight within 0 and 1 between
    the P50 and the P90 (:class:`~ersgrid.control.forecasters.Blended`); else ValueError."""
    if isinstance(quantile, str):
        if quantile not in QUANTILE_COLUMNS:
            raise ValueError(f"guide_quantile {quantile!r}: use {', '.join(QUANTILE_COLUMNS)} "
                             "or a weight within 0 and 1")  # fmt: skip
        return quantile
    try:
        return blend_weight(quantile)
    except ValueError as err:
        raise ValueError(f"guide_quantile: {err}") from None


def guide_traffic(traffic: LearnedTraffic, quantile: str | float, reach: int) -> Spliced:
    """The guide's traffic: the learned forecast at ``quantile`` (a weight: P50 + weight
    (P90 − P50)) for ``reach`` steps, beyond them the traffic model's calendar profile carried
    to the same level by the learned forecast's ratio to its median."""

    def at(q: str) -> TrafficForecaster:  # LearnedTraffic takes any run-like context
        return cast(TrafficForecaster, traffic.with_quantile(q))

    median = at("p50")
    near = at(quantile) if isinstance(quantile, str) else Blended(median, at("p90"), quantile)
    return Spliced(near, QuantileCarried(ExpectedProfile(), near, median, reach), reach)


def guide_path(
    guide_kwh: FloatArray, origin: int, n_steps: int, step: int, stored_kwh: FloatArray
) -> FloatArray:
    """The guide's stored energy as the least a short plan keeps at every step.

    Parameters
    ----------
    guide_kwh : ndarray [kWh], shape (run steps, substations)
        The guide's stored energy at the end of each run step (NaN outside the guide).
    origin : int
        Run step of the model's first step.
    n_steps : int
        Steps of the model.
    step : int
        Run step the plan starts at.
    stored_kwh : ndarray [kWh], per substation
        Stored energy now (at the start of ``step``).

    Returns
    -------
    ndarray [kWh], shape (n_steps, substations)
        The guide's trajectory over the model's steps, lowered at each substation by what its
        battery lacks of the guide now (NaN where the guide has no value): a plan re-solved
        from a state below the guide is not asked to refill at once, only not to fall further
        behind; a battery above the guide may spend what it holds over it.
    """
    path = np.full((n_steps, guide_kwh.shape[1]), np.nan)
    seg = guide_kwh[origin : origin + n_steps]
    path[: len(seg)] = seg
    before = guide_kwh[step - 1] if step > 0 else stored_kwh
    lack = np.maximum(np.where(np.isfinite(before), before, stored_kwh) - stored_kwh, 0.0)
    return np.asarray(path - lack, dtype=np.float64)
