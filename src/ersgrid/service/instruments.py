"""Field instruments around the twin: segment and substation meters, coil temperature sensors.

The twin knows the true energies. Real devices report them through meters with a small
error and sensors that drift, stick or fail; the anomaly detectors only ever see these
readings. Faults are injected here (meters, sensors) or in the twin itself (coil efficiency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ersgrid.scenario.layout import Layout

__all__ = ["InstrumentSpec", "Instruments", "Readings"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class InstrumentSpec:
    """Accuracy and physics of the instruments.

    Attributes
    ----------
    meter_error : float [-]
        Standard deviation of a meter's relative error per reading (0.2 % ~ class 0.2S).
    feeder_loss : float [-]
        Losses between substation meter and segment meters, as a share of segment energy.
    ambient_mean_c, ambient_swing_c : float [°C]
        Daily mean and half swing of the ambient temperature (peak at 14:00).
    temp_rise_full_load_c : float [°C]
        Steady-state coil temperature rise above ambient at full rating.
    thermal_tau_s : float [s]
        Thermal time constant of a coil and its power unit.
    temp_noise_c : float [°C]
        Standard deviation of a temperature reading.
    """

    meter_error: float = 0.002
    feeder_loss: float = 0.01
    ambient_mean_c: float = 18.0
    ambient_swing_c: float = 6.0
    temp_rise_full_load_c: float = 30.0
    thermal_tau_s: float = 600.0
    temp_noise_c: float = 0.05


@dataclass(frozen=True)
class Readings:
    """What the instruments report for one tick.

    Attributes
    ----------
    seg_grid_kwh : ndarray [kWh]
        Segment meters, grid side.
    seg_battery_kwh : ndarray [kWh]
        Energy the vehicles' receivers metered on each segment (battery side).
    sub_grid_kwh : ndarray [kWh]
        Substation meters (road feeders only).
    seg_temperature_c : ndarray [°C]
        Coil temperature sensors.
    """

    seg_grid_kwh: FloatArray
    seg_battery_kwh: FloatArray
    sub_grid_kwh: FloatArray
    seg_temperature_c: FloatArray


class Instruments:
    """Meters and sensors of one corridor, with injectable faults.

    Parameters
    ----------
    layout : Layout
    seed : int
    spec : InstrumentSpec, optional
    """

    def __init__(self, layout: Layout, seed: int, spec: InstrumentSpec | None = None) -> None:
        self.layout = layout
        self.spec = spec or InstrumentSpec()
        self._rng = np.random.default_rng(seed)
        n_seg, n_sub = layout.n_segments, layout.n_substations
        self.seg_meter_gain = np.ones(n_seg)
        self.sub_meter_gain = np.ones(n_sub)
        self.seg_temp_offset_c = np.zeros(n_seg)
        self.seg_cooling = np.ones(n_seg)
        """Share of its cooling each coil has left: the temperature rise scales by 1 / it."""
        self.stuck = np.zeros(n_seg, dtype=bool)
        self._temp_c = np.full(n_seg, np.nan)
        self._last_reading_c = np.full(n_seg, np.nan)

    def ambient_c(self, hour_of_day: float) -> float:
        """Ambient temperature at a local hour [°C]."""
        s = self.spec
        return s.ambient_mean_c + s.ambient_swing_c * math.cos(
            2 * math.pi * (hour_of_day - 14) / 24
        )

    def read(
        self,
        seg_grid_kwh: FloatArray,
        seg_battery_kwh: FloatArray,
        duration_s: float,
        hour_of_day: float,
    ) -> Readings:
        """Readings for one tick from the twin's true energies.

        Parameters
        ----------
        seg_grid_kwh, seg_battery_kwh : ndarray [kWh]
            True energies of the tick per segment.
        duration_s : float [s]
        hour_of_day : float [h]
            Local time at the end of the tick.
        """
        s, lay, rng = self.spec, self.layout, self._rng
        n_seg = lay.n_segments
        grid = seg_grid_kwh * self.seg_meter_gain * (1 + s.meter_error * rng.standard_normal(n_seg))
        batt = seg_battery_kwh * (1 + s.meter_error * rng.standard_normal(n_seg))
        sub_true = np.bincount(
            lay.seg_substation, weights=seg_grid_kwh, minlength=lay.n_substations
        )
        sub = (
            sub_true
            * (1 + s.feeder_loss)
            * self.sub_meter_gain
            * (1 + s.meter_error * rng.standard_normal(lay.n_substations))
        )
        load = seg_grid_kwh / (duration_s / 3600.0) / lay.seg_rating_kw
        target = self.ambient_c(hour_of_day) + s.temp_rise_full_load_c * load / self.seg_cooling
        target = target + self.seg_temp_offset_c
        if np.isnan(self._temp_c).any():
            self._temp_c = target.copy()
        self._temp_c += (target - self._temp_c) * (1 - math.exp(-duration_s / s.thermal_tau_s))
        reading = self._temp_c + s.temp_noise_c * rng.standard_normal(n_seg)
        reading = np.where(
            self.stuck & ~np.isnan(self._last_reading_c), self._last_reading_c, reading
        )
        self._last_reading_c = reading
        return Readings(np.maximum(grid, 0.0), np.maximum(batt, 0.0), np.maximum(sub, 0.0), reading)
