"""The measured vehicles on the road, matched to a plan's cohorts.

A receding-horizon plan starts from the state the toll system and the on-board meters report:
each vehicle on the road is matched to its cohort by entry step (of its entry window),
direction, class, entry and exit interchange, entry state-of-charge bin and V2G; the matched
cohorts take the measured count and mean energy, the cohorts that have entered and were not
seen are empty. ``mpc`` keeps one :class:`CohortMatcher` per run and indexes each model it
builds.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.control.base import RunContext
from ersgrid.optimize.cohorts import Cohorts, entry_soc_bins, window_last_step
from ersgrid.optimize.model import CohortLP
from ersgrid.scenario.schema import VEHICLE_CLASSES

__all__ = ["CohortMatcher"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class CohortMatcher:
    """Matches measured vehicles to the cohorts of a model (see the module text).

    Parameters
    ----------
    context : RunContext
    soc_bins : int
        Entry state-of-charge bins per class of the models' cohorts.
    entry_window_steps : int
        Entry steps merged into one cohort.
    lookback : int [steps]
        Steps before a model's first step whose cohorts it holds (vehicles still on the road).
    """

    def __init__(
        self, context: RunContext, soc_bins: int, entry_window_steps: int, lookback: int
    ) -> None:
        self.context = context
        self.soc_bins = soc_bins
        self.entry_window_steps = entry_window_steps
        self.lookback = lookback
        self._edges: dict[int, FloatArray] = {}
        for c, name in enumerate(VEHICLE_CLASSES):
            spec = context.scenario.vehicles.get(name)  # type: ignore[call-overload]
            if spec is not None:
                soc = spec.entry_soc
                top = min(soc.max, spec.soc_max)
                _, edges = entry_soc_bins(soc.mean, soc.std, soc.min, top, soc_bins)
                self._edges[c] = edges
        self._keys: IntArray = np.zeros(0, dtype=np.int64)
        self._order: IntArray = np.zeros(0, dtype=np.int64)

    def index(self, cohorts: Cohorts) -> None:
        """Take the cohorts of a newly built model as the ones to match against."""
        self._keys = self._cohort_keys(cohorts)
        self._order = np.argsort(self._keys)

    def _cohort_keys(self, c: Cohorts) -> IntArray:
        n_ic = len(self.context.layout.ic_position_km)
        key = (c.entry_step + self.lookback) * 2 + c.direction
        key = (key * len(VEHICLE_CLASSES) + c.vclass) * n_ic + c.entry_ic
        key = (key * n_ic + c.exit_ic) * self.soc_bins + c.soc_bin
        out: IntArray = key * 2 + (c.v2g > 0.5).astype(np.int64)
        return out

    def live(
        self, model: CohortLP, vehicles: pd.DataFrame, rel: int, origin: int
    ) -> tuple[FloatArray, FloatArray]:
        """Counts [veh] and effective entry energies [kWh] of ``model``'s cohorts (the last
        indexed) with the measured ``vehicles`` on the road at model step ``rel``; ``origin``
        is the run step of the model's step 0."""
        coh = model.cohorts
        count = coh.count.copy()
        energy = coh.energy_kwh.copy()
        entered = coh.entry_step < rel
        count[entered] = 0.0
        if len(vehicles) == 0:
            return count, energy
        ctx = self.context
        lay = ctx.layout
        step_twin = ctx.scenario.simulation.twin_step_s / (ctx.step_h * 3600.0)
        entry_step = np.floor(vehicles["entry_step"].to_numpy() * step_twin).astype(np.int64)
        entry_step = window_last_step(entry_step - origin, self.entry_window_steps, origin)
        direction = vehicles["direction"].to_numpy().astype(np.int64)
        vclass = vehicles["vclass"].to_numpy().astype(np.int64)
        entry_ic = vehicles["entry_ic"].to_numpy().astype(np.int64)
        entry_m = lay.to_travel_m(lay.ic_position_km[entry_ic], direction.astype(np.int8))
        now = vehicles["energy_kwh"].to_numpy()
        driven_m = vehicles["position_m"].to_numpy() - entry_m
        used = vehicles["consumption_kwh_per_m"].to_numpy() * driven_m
        soc_est = (now + used) / vehicles["battery_kwh"].to_numpy()
        soc_bin = np.zeros(len(vehicles), dtype=np.int64)
        for c, edges in self._edges.items():
            m = vclass == c
            soc_bin[m] = np.clip(np.searchsorted(edges[1:-1], soc_est[m]), 0, self.soc_bins - 1)
        probe = Cohorts(
            direction=direction, vclass=vclass, entry_step=entry_step,
            entry_h=np.zeros(len(now)), entry_m=entry_m, exit_m=entry_m,
            entry_ic=entry_ic, exit_ic=vehicles["exit_ic"].to_numpy().astype(np.int64),
            soc_bin=soc_bin, speed_mps=np.ones(len(now)), count=np.ones(len(now)),
            energy_kwh=now, target_kwh=now, full_kwh=now, receiver_kw=now,
            consumption_kwh_per_m=now, v2g=vehicles["v2g"].to_numpy().astype(np.float64),
        )  # fmt: skip
        keys = self._cohort_keys(probe)
        pos = np.searchsorted(self._keys[self._order], keys)
        pos = np.clip(pos, 0, len(self._order) - 1)
        idx = self._order[pos]
        ok = (self._keys[idx] == keys) & (entry_step < rel)
        idx = idx[ok]
        n = np.bincount(idx, minlength=len(coh)).astype(np.float64)
        e_sum = np.bincount(idx, weights=now[ok], minlength=len(coh))
        seen = n > 0
        count[seen] = n[seen]
        before = model.consumed_before_kwh(rel)
        energy[seen] = e_sum[seen] / n[seen] + before[seen]
        return count, energy
