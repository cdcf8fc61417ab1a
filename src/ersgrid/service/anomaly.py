"""Anomaly detection on meter and sensor readings, each against its own history.

Four checks, all on what the instruments report (never on the twin's truth):

``coil_efficiency`` (segment)
    Efficiency = battery-side energy metered by the vehicles' receivers over grid-side energy
    metered by the segment, sampled each time a segment has passed ``eff_sample_kwh``. A
    sample below the median of the segment's own history by more than
    ``max(k·σ, eff_min_shift)`` (σ = 1.4826·MAD) for ``confirm`` samples in a row raises it:
    the coil or its power unit is losing efficiency.
``segment_meter`` (segment)
    The same efficiency *above* its history by that margin: the grid-side meter of the
    segment under-reports (or the receivers over-report).
``meter_balance`` (substation)
    Substation meter over the sum of its segment meters, minus one (feeder losses), sampled
    every ``balance_sample_kwh``; a shift of more than ``max(k·σ, balance_min_shift)`` from
    its history in either direction: a meter fault, an unmetered load, theft.
``sensor_stuck`` / ``temperature_high`` (segment)
    A temperature reading repeated exactly for ``stuck_ticks`` ticks; a temperature above the
    corridor's median by more than its own history allows.

Samples that raise an alarm do not enter the history, so a lasting fault cannot become the
new normal. An alarm clears after ``confirm`` normal samples.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.scenario.layout import Layout
from ersgrid.service.alarms import AlarmBook
from ersgrid.service.live import TickReport

__all__ = ["AnomalyDetector", "DetectorSpec", "RobustBaseline"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DetectorSpec:
    """Thresholds of the detectors.

    Attributes
    ----------
    k : float [-]
        Robust z-score beyond which a sample is abnormal.
    confirm : int
        Abnormal (or normal) samples in a row to raise (or clear) an alarm.
    min_history : int
        Samples in a history before it judges.
    history : int
        Samples kept per history.
    eff_sample_kwh : float [kWh]
        Grid-side energy per efficiency sample.
    eff_min_shift : float [-]
        Smallest efficiency shift that counts (absolute, e.g. 0.02 = 2 points).
    balance_sample_kwh : float [kWh]
        Segment energy per substation balance sample.
    balance_min_shift : float [-]
        Smallest shift of the balance residual that counts.
    stuck_ticks : int
        Exactly repeated temperature readings that make a sensor stuck.
    temp_min_shift_c : float [°C]
        Smallest temperature excess over its history that counts.
    temp_every : int
        Ticks between two temperature-excess samples.
    """

    k: float = 6.0
    confirm: int = 2
    min_history: int = 5
    history: int = 60
    eff_sample_kwh: float = 5.0
    eff_min_shift: float = 0.02
    balance_sample_kwh: float = 25.0
    balance_min_shift: float = 0.015
    stuck_ticks: int = 20
    temp_min_shift_c: float = 15.0
    temp_every: int = 20


class RobustBaseline:
    """Median and MAD of a bounded history of one signal."""

    def __init__(self, size: int) -> None:
        self.values: deque[float] = deque(maxlen=size)

    def shift(self, x: float, k: float, min_shift: float, min_history: int) -> float:
        """How far ``x`` lies outside ``median ± max(k·σ, min_shift)``: >0 above, <0 below."""
        if len(self.values) < min_history:
            return 0.0
        v = np.fromiter(self.values, dtype=np.float64)
        med = float(np.median(v))
        sigma = 1.4826 * float(np.median(np.abs(v - med)))
        band = max(k * sigma, min_shift)
        if x > med + band:
            return x - med - band
        if x < med - band:
            return x - med + band
        return 0.0


class _Check:
    """Confirmation and alarm bookkeeping of one signal of one subject."""

    def __init__(self, size: int) -> None:
        self.base = RobustBaseline(size)
        self.high = 0
        self.low = 0
        self.normal = 0


class AnomalyDetector:
    """Runs the checks on every tick of the live loop.

    Parameters
    ----------
    layout : Layout
    alarms : AlarmBook
    spec : DetectorSpec, optional
    """

    def __init__(self, layout: Layout, alarms: AlarmBook, spec: DetectorSpec | None = None) -> None:
        self.layout = layout
        self.alarms = alarms
        self.spec = s = spec or DetectorSpec()
        n_seg, n_sub = layout.n_segments, layout.n_substations
        self._eff = [_Check(s.history) for _ in range(n_seg)]
        self._bal = [_Check(s.history) for _ in range(n_sub)]
        self._temp = [_Check(s.history) for _ in range(n_seg)]
        self._stuck: set[int] = set()
        self._ticks = 0
        self._acc_grid = np.zeros(n_seg)
        self._acc_batt = np.zeros(n_seg)
        self._acc_sub = np.zeros(n_sub)
        self._acc_sub_segs = np.zeros(n_sub)
        self._last_temp = np.full(n_seg, np.nan)
        self._repeats = np.zeros(n_seg, dtype=np.int64)
        self.samples = {"efficiency": 0, "balance": 0, "temperature": 0}

    def observe(self, report: TickReport) -> None:
        """Feed one tick's readings."""
        r = report.readings
        self._acc_grid += r.seg_grid_kwh
        self._acc_batt += r.seg_battery_kwh
        self._acc_sub += r.sub_grid_kwh
        self._acc_sub_segs += np.bincount(
            self.layout.seg_substation, weights=r.seg_grid_kwh, minlength=self.layout.n_substations
        )
        for i in np.flatnonzero(self._acc_grid >= self.spec.eff_sample_kwh):
            self._efficiency_sample(int(i), self._acc_batt[i] / self._acc_grid[i])
            self._acc_grid[i] = self._acc_batt[i] = 0.0
        for j in np.flatnonzero(self._acc_sub_segs >= self.spec.balance_sample_kwh):
            self._balance_sample(int(j), self._acc_sub[j] / self._acc_sub_segs[j] - 1.0)
            self._acc_sub[j] = self._acc_sub_segs[j] = 0.0
        self._temperature(r.seg_temperature_c)

    # ---- checks -------------------------------------------------------------------------
    def _judge(self, check: _Check, x: float, min_shift: float) -> tuple[bool, bool, bool]:
        """Returns (raise high, raise low, clear) after confirmation."""
        s = self.spec
        off = check.base.shift(x, s.k, min_shift, s.min_history)
        if off > 0:
            check.high, check.low, check.normal = check.high + 1, 0, 0
        elif off < 0:
            check.low, check.high, check.normal = check.low + 1, 0, 0
        else:
            check.high = check.low = 0
            check.normal += 1
            check.base.values.append(x)
        return check.high >= s.confirm, check.low >= s.confirm, check.normal >= s.confirm

    def _efficiency_sample(self, i: int, eff: float) -> None:
        self.samples["efficiency"] += 1
        sid = self.layout.seg_ids[i]
        check = self._eff[i]
        high, low, normal = self._judge(check, eff, self.spec.eff_min_shift)
        med = float(np.median(check.base.values)) if check.base.values else float("nan")
        if low:
            self.alarms.raise_alarm(
                "coil_efficiency", sid,
                f"{sid}: efficiency {eff:.1%} against {med:.1%} in its history; "
                "inspect the coil and power unit", "warning", "anomaly",
                {"efficiency": eff, "baseline": med},
            )  # fmt: skip
        if high:
            self.alarms.raise_alarm(
                "segment_meter", sid,
                f"{sid}: receivers metered {eff:.1%} of the segment meter against {med:.1%} "
                "in its history; the segment meter may under-report", "warning", "anomaly",
                {"efficiency": eff, "baseline": med},
            )  # fmt: skip
        if normal:
            self.alarms.clear("coil_efficiency", sid)
            self.alarms.clear("segment_meter", sid)

    def _balance_sample(self, j: int, residual: float) -> None:
        self.samples["balance"] += 1
        sid = self.layout.sub_ids[j]
        check = self._bal[j]
        high, low, normal = self._judge(check, residual, self.spec.balance_min_shift)
        med = float(np.median(check.base.values)) if check.base.values else float("nan")
        if high or low:
            what = (
                "unmetered draw or a segment meter under-reporting"
                if high
                else ("the substation meter under-reporting or a segment meter over-reporting")
            )
            self.alarms.raise_alarm(
                "meter_balance", sid,
                f"{sid}: substation meter {residual:+.2%} against its segment meters "
                f"(history {med:+.2%}): {what}", "critical", "anomaly",
                {"residual": residual, "baseline": med},
            )  # fmt: skip
        if normal:
            self.alarms.clear("meter_balance", sid)

    def _temperature(self, temp_c: FloatArray) -> None:
        same = temp_c == self._last_temp
        self._repeats = np.where(same, self._repeats + 1, 0)
        self._last_temp = temp_c.copy()
        self._ticks += 1
        for i in np.flatnonzero(self._repeats == self.spec.stuck_ticks):
            sid = self.layout.seg_ids[int(i)]
            self._stuck.add(int(i))
            self.alarms.raise_alarm(
                "sensor_stuck", sid,
                f"{sid}: temperature sensor repeats {temp_c[i]:.2f} °C for "
                f"{self.spec.stuck_ticks} readings; replace or recalibrate it",
                "warning", "anomaly",
            )  # fmt: skip
        for k in [k for k in self._stuck if self._repeats[k] == 0]:
            self._stuck.discard(k)
            self.alarms.clear("sensor_stuck", self.layout.seg_ids[k])
        if self._ticks % self.spec.temp_every:
            return
        excess = temp_c - float(np.nanmedian(temp_c))
        self.samples["temperature"] += 1
        for i in np.flatnonzero(self._repeats == 0):
            check = self._temp[int(i)]
            high, _low, normal = self._judge(check, float(excess[i]), self.spec.temp_min_shift_c)
            sid = self.layout.seg_ids[int(i)]
            if high:
                self.alarms.raise_alarm(
                    "temperature_high", sid,
                    f"{sid}: {temp_c[i]:.1f} °C, {excess[i]:.1f} °C above the corridor median, "
                    "beyond its own history", "critical", "anomaly",
                )  # fmt: skip
            elif normal and self.alarms.is_active("temperature_high", sid):
                self.alarms.clear("temperature_high", sid)

    def status(self) -> dict[str, Any]:
        """Sample counts for /api/health."""
        return {"samples": dict(self.samples)}
