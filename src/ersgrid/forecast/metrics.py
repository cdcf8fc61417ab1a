"""Accuracy of point and quantile forecasts.

Every function takes arrays of equal length; NaN pairs are dropped first.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["coverage", "mae", "mape", "metrics", "nmae", "pinball", "skill", "wape"]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike


def _pair(actual: ArrayLike, forecast: ArrayLike) -> tuple[FloatArray, FloatArray]:
    a, f = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(f)
    return a[ok], f[ok]


def mae(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute error [unit of the target]."""
    a, f = _pair(actual, forecast)
    return float(np.mean(np.abs(a - f))) if len(a) else float("nan")


def mape(actual: ArrayLike, forecast: ArrayLike, floor_share: float = 0.05) -> float:
    """Mean absolute percentage error [%] over steps whose actual is at least ``floor_share``
    of the mean absolute actual (near-zero steps, e.g. night-time traffic per class, would
    otherwise dominate)."""
    a, f = _pair(actual, forecast)
    sel = np.abs(a) >= floor_share * np.mean(np.abs(a)) if len(a) else a.astype(bool)
    sel &= a != 0
    return float(100.0 * np.mean(np.abs((a[sel] - f[sel]) / a[sel]))) if sel.any() else np.nan


def wape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Weighted absolute percentage error Σ|e| / Σ|actual| [%] (FlexMeasures reports 1 − WAPE)."""
    a, f = _pair(actual, forecast)
    total = np.sum(np.abs(a))
    return float(100.0 * np.sum(np.abs(a - f)) / total) if total > 0 else float("nan")


def nmae(actual: ArrayLike, forecast: ArrayLike, capacity: float) -> float:
    """MAE normalised by capacity (PV, wind) [%]."""
    return 100.0 * mae(actual, forecast) / capacity if capacity > 0 else float("nan")


def pinball(actual: ArrayLike, q: ArrayLike, alpha: float) -> float:
    """Pinball (quantile) loss of quantile ``alpha`` [unit of the target]."""
    a, f = _pair(actual, q)
    d = a - f
    return float(np.mean(np.maximum(alpha * d, (alpha - 1.0) * d))) if len(a) else float("nan")


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actuals inside [lower, upper] [%]."""
    a = np.asarray(actual, dtype=np.float64)
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(lo) & np.isfinite(hi)
    inside = (a[ok] >= lo[ok]) & (a[ok] <= hi[ok])
    return float(100.0 * inside.mean()) if ok.any() else float("nan")


def skill(mae_model: float, mae_baseline: float) -> float:
    """1 − MAE_model / MAE_baseline [-]; > 0 when the model beats the baseline."""
    return 1.0 - mae_model / mae_baseline if mae_baseline > 0 else float("nan")


def metrics(
    actual: ArrayLike,
    p10: ArrayLike,
    p50: ArrayLike,
    p90: ArrayLike,
    capacity: float | None = None,
) -> dict[str, float]:
    """All metrics of one forecast: MAE, MAPE, WAPE, nMAE (if ``capacity``), pinball, coverage.

    ``pinball`` is the mean of the three quantiles' losses; ``coverage`` the share of actuals
    inside P10–P90 (80 % for a calibrated forecast).
    """
    out = {
        "mae": mae(actual, p50),
        "mape_pct": mape(actual, p50),
        "wape_pct": wape(actual, p50),
        "pinball": float(
            np.mean([pinball(actual, q, a) for q, a in ((p10, 0.1), (p50, 0.5), (p90, 0.9))])
        ),
        "coverage_pct": coverage(actual, p10, p90),
    }
    if capacity is not None:
        out["nmae_pct"] = nmae(actual, p50, capacity)
    return out
