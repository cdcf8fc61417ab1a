"""``tou``: a time-of-use rule a road operator can run without an optimiser.

- **Batteries**: charge at full power in the cheapest price level of the day (within the
  import room the road left at the connection in the step before), and from any local
  renewable surplus; discharge in the dearest level, but only as much as the site
  draws from the grid in that step (the EMS clips it to the metered net load unless the
  scenario sets ``storage.may_export``: a battery that exports sells at the export price
  what it bought at the import price).
- **Demand charge**: where the tariff has one, charging only fills the valleys: the EMS
  keeps the corridor's import under the highest it has metered so far in the run (the
  charge is owed up to that peak anyway), shared among the connections by their own
  highest import so far, as import targets judged on the step's own metered load (see
  :attr:`~ersgrid.control.base.Dispatch.import_target_kw`); discharging in the dearest
  level cuts the peaks.
- **Road**: in steps where selling energy to vehicles loses money (the user price times
  the worst segment efficiency is below the import price plus the carbon cost), cap each
  substation at ``loss_cap_share`` of its rating; the twin then serves the vehicles with
  the least slack to their exit target first. Otherwise the road runs at its ratings.

Price levels are taken per local day from the tariff, so the rule needs no forecast.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
from ersgrid.optimize.storage import storage_arrays

__all__ = ["TimeOfUse"]


class TimeOfUse(Strategy):
    """Rule-based time-of-use control of road power and stationary batteries.

    Parameters
    ----------
    loss_cap_share : float [-]
        Road power cap, as a share of each substation's rating, in steps where selling
        energy loses money.
    """

    name = "tou"

    def __init__(self, loss_cap_share: float = 0.5) -> None:
        self.loss_cap_share = float(loss_cap_share)

    def reset(self, context: RunContext) -> None:
        super().reset(context)
        self.fallbacks = 0
        self._storage = storage_arrays(context.scenario, context.layout)
        tariff = context.scenario.tariff
        cost = context.price_per_kwh + tariff.carbon_price_per_kg * context.co2_kg_per_kwh
        day = np.asarray(context.index.year * 1000 + context.index.dayofyear)
        low = np.empty_like(cost)
        high = np.empty_like(cost)
        for d in np.unique(day):
            m = day == d
            low[m] = cost[m].min()
            high[m] = cost[m].max()
        spread = high > low + 1e-9
        self._charge = spread & (cost <= low + 1e-9)
        self._discharge = spread & (cost >= high - 1e-9)
        worst_eff = float(context.layout.seg_efficiency.min(initial=1.0))
        self._losing = tariff.user_price_per_kwh * worst_eff < cost
        self._valley = tariff.demand_charge_per_kw > 0.0
        self._peak_import_kw = np.zeros(context.layout.n_substations)
        self._corridor_peak_kw = 0.0
        self._carried_net_kw: np.ndarray | None = None

    def end_state(self, observation: Observation) -> dict[str, np.ndarray]:
        """The peaks metered so far and the last step's net load of each connection."""
        return {
            "peak_import_kw": self._peak_import_kw.copy(),
            "corridor_peak_kw": np.array([self._corridor_peak_kw]),
            "net_kw": self._previous_net_kw(observation),
        }

    def resume(self, state: Mapping[str, np.ndarray]) -> None:
        """Carry on with the peaks and the last net load of the run this one continues."""
        n_sub = self.context.layout.n_substations
        if "peak_import_kw" in state and np.shape(state["peak_import_kw"]) == (n_sub,):
            self._peak_import_kw = np.asarray(state["peak_import_kw"], dtype=np.float64).copy()
            self._corridor_peak_kw = float(np.asarray(state["corridor_peak_kw"]).reshape(-1)[0])
        if "net_kw" in state and np.shape(state["net_kw"]) == (n_sub,):
            self._carried_net_kw = np.asarray(state["net_kw"], dtype=np.float64).copy()

    def decide(self, observation: Observation) -> Dispatch:
        k = observation.step
        lay = self.context.layout
        sub = lay.sub_rating_kw.copy()
        if self._losing[k]:
            sub = sub * self.loss_cap_share
        storage = np.zeros(lay.n_substations)
        net_kw = self._previous_net_kw(observation)
        target = None
        if self._valley:
            imported_kw = (
                np.zeros(lay.n_substations)
                if observation.import_kw is None
                else np.asarray(observation.import_kw, dtype=np.float64)
            )
            self._peak_import_kw = np.maximum(self._peak_import_kw, imported_kw)
            self._corridor_peak_kw = max(self._corridor_peak_kw, float(imported_kw.sum()))
        if self._charge[k]:
            # full power, but not from import room the road needed in the step before: under
            # a connection cap the road comes first
            cap = self.context.energy.import_limit_kw[k]
            storage = np.minimum(self._storage.power_kw, np.maximum(cap - net_kw, 0.0))
            if self._valley:
                # the corridor's peak so far, shared by each connection's own peak so far:
                # the targets sum to the peak already owed, so charging does not raise it
                total = float(self._peak_import_kw.sum())
                share = self._peak_import_kw / total if total > 0.0 else np.zeros_like(imported_kw)
                target = (self._corridor_peak_kw * share).astype(np.float64)
        elif self._discharge[k]:
            # full power; the EMS clips it to the step's metered net load (no feed-back)
            storage = -self._storage.power_kw.copy()
        else:
            storage = np.minimum(self._storage.power_kw, np.maximum(-net_kw, 0.0))
        return Dispatch(lay.seg_rating_kw.copy(), sub, storage, import_target_kw=target)

    def _previous_net_kw(self, observation: Observation) -> np.ndarray:
        """Net load of each connection in the previous step (road + other − renewables) [kW]."""
        lay = self.context.layout
        k = observation.step
        if k == 0 and self._carried_net_kw is not None:  # the run this one continues
            return self._carried_net_kw.copy()
        if observation.last is None or k == 0:
            return np.zeros(lay.n_substations)
        en = self.context.energy
        road_kw = observation.last.sub_grid_kwh / observation.last.duration_h
        return np.asarray(road_kw + en.other_load_kw[k - 1] - en.renewable_kw[k - 1])
