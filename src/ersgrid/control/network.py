"""The distribution network as the planning strategies see it: linearised limits for the LP.

The grid engine and the optimiser never import each other; this module carries what one
computes into the other's request. :class:`NetworkView` compiles the scenario's network once
per run and, for a planning model, asks the grid engine
(:func:`~ersgrid.grid.sensitivity.sensitivities`) for the bus voltages, branch loadings and
their derivatives by each connection's draw at an operating point:

- the derivatives become the model's rows ``network``
  (:class:`~ersgrid.optimize.network.NetworkRows`, fixed while the model lives), one per
  (step, element) for every bus (the scenario's voltage band), line and transformer (its
  ``loading_max_pct``) that some connection moves;
- the values become the request's ``network_base`` (the linearised value at zero draw),
  re-linearised for every plan at the draw the previous plan left (:meth:`NetworkView.base`),
  and once more after a solve when the AC power flow at the planned draw differs from the
  linear prediction by more than :data:`RELINEARISE_PU` or :data:`RELINEARISE_PCT`
  (:meth:`NetworkView.rebased`; ``mpc`` checks the steps it dispatches before its next
  re-plan).

The network's own loads follow their profiles and its PV and wind units the run's weather
(as the grid check drives them); the road connections' draw is the plan's import less
export.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from ersgrid.control.base import RunContext
from ersgrid.grid.check import grid_inputs, prepare_case
from ersgrid.grid.powerflow import GridInputs
from ersgrid.grid.sensitivity import MOVED_PER_MW, sensitivities
from ersgrid.optimize.model import CohortLP
from ersgrid.optimize.network import NetworkRows, network_rows
from ersgrid.optimize.request import PlanRequest

__all__ = ["PLAN_MARGIN_PCT", "PLAN_MARGIN_PU", "RELINEARISE_PCT", "RELINEARISE_PU", "NetworkView"]

FloatArray = npt.NDArray[np.float64]

RELINEARISE_PU = 2e-4
"""A plan is re-linearised and solved again when its AC voltage anywhere in the window is
this far from the linear prediction [p.u.]."""

RELINEARISE_PCT = 0.5
"""... or a branch loading this far [%]."""


PLAN_MARGIN_PU = 2e-3
"""The plans keep voltages this far inside the scenario's band [p.u.]: the twin's 1 s sharing
inside a step and the linearisation leave the realised draw a little off the plan's, and the
margin keeps that off the limit (the grid check counts the band itself)."""

PLAN_MARGIN_PCT = 1.0
"""... and loadings this far below ``loading_max_pct`` [%]."""


class NetworkView:
    """The run's network, compiled once, linearised for each plan.

    Parameters
    ----------
    context : RunContext
        A run whose scenario has a ``grid`` section.

    Attributes
    ----------
    labels : tuple of str
        Each watched element (``voltage <bus>``, ``loading <line>``, ``loading <trafo>``).
    site_kw : ndarray [kW], shape (steps, substations)
        Each connection's draw without the road (other load less renewables, within its
        limits): the operating point before any plan.
    """

    def __init__(self, context: RunContext) -> None:
        spec = context.scenario.grid
        if spec is None:
            raise ValueError("NetworkView needs a scenario with a grid section")
        case = context.grid_case
        self.case = prepare_case(spec, context.layout.sub_ids) if case is None else case
        T, S = len(context.index), context.layout.n_substations
        self.inputs = grid_inputs(context.world, self.case, np.zeros((T, S)))
        en = context.energy
        site = np.asarray(en.other_load_kw - en.renewable_kw, dtype=np.float64)
        self.site_kw = np.clip(site, -en.export_limit_kw, en.import_limit_kw)
        n_bus, n_line, n_trafo = self.case.sizes
        kinds = (
            [f"voltage {b}" for b in self.case.bus_names]
            + [f"loading {n}" for n in self.case.line_names]
            + [f"loading {n}" for n in self.case.trafo_names]
        )
        lower = np.concatenate([np.full(n_bus, spec.voltage_min_pu + PLAN_MARGIN_PU),
                                np.full(n_line + n_trafo, -np.inf)])  # fmt: skip
        loading_max = spec.loading_max_pct - PLAN_MARGIN_PCT
        upper = np.concatenate([np.full(n_bus, spec.voltage_max_pu - PLAN_MARGIN_PU),
                                np.full(n_line + n_trafo, loading_max)])  # fmt: skip
        self._is_voltage = np.arange(len(kinds)) < n_bus
        self._last: tuple[tuple[int, int, bool], FloatArray, FloatArray, FloatArray] | None = None
        _, coef = self._linearise(0, T, self.site_kw, every=True)
        self._keep = np.flatnonzero(np.nanmax(np.abs(coef), axis=(0, 2)) * 1000.0 > MOVED_PER_MW)
        self.labels = tuple(kinds[i] for i in self._keep)
        self._lower, self._upper = lower[self._keep], upper[self._keep]
        self._tolerance = np.where(self._is_voltage[self._keep], RELINEARISE_PU, RELINEARISE_PCT)

    def _linearise(
        self, start: int, stop: int, draw_kw: FloatArray, every: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """Values [p.u., %] and derivatives [per kW] of the elements at run steps
        ``start .. stop - 1`` with the connections drawing ``draw_kw``.

        The last answer is kept: a plan's check (:meth:`rebased`) and the next plan's base
        (:meth:`base`, at the draw of the plan in force) ask for the same power flows."""
        draw = np.asarray(draw_kw, dtype=np.float64)
        key = (start, stop, every)
        last = self._last
        if last is not None and last[0] == key and np.array_equal(last[1], draw):
            return last[2], last[3]
        values, coef = self._solve_linear(start, stop, draw, every)
        self._last = (key, draw.copy(), values, coef)
        return values, coef

    def _solve_linear(
        self, start: int, stop: int, draw_kw: FloatArray, every: bool
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`_linearise` without its memory: the power flows and sensitivities."""
        inp = self.inputs
        sub = GridInputs(inp.load_factor[start:stop], inp.sgen_factor[start:stop],
                         np.asarray(draw_kw, dtype=np.float64) / 1000.0)  # fmt: skip
        s = sensitivities(self.case, sub)
        values = np.concatenate([s.vm_pu, s.line_loading_pct, s.trafo_loading_pct], axis=1)
        coef = np.concatenate([s.dvm_pu_per_mw, s.dline_pct_per_mw, s.dtrafo_pct_per_mw], axis=1)
        coef = coef / 1000.0
        if every:
            return values, coef
        return values[:, self._keep], coef[:, self._keep]

    def rows(self, start: int, stop: int, draw_kw: FloatArray | None = None) -> NetworkRows:
        """The ``network`` rows of a model of run steps ``start .. stop - 1``, linearised at
        ``draw_kw`` [kW], shape (steps, substations) (default: :attr:`site_kw`)."""
        draw = self.site_kw[start:stop] if draw_kw is None else draw_kw
        _, coef = self._linearise(start, stop, draw)
        return network_rows(coef, self._lower, self._upper, self.labels)

    def base(self, model: CohortLP, start: int, draw_kw: FloatArray) -> FloatArray:
        """``network_base`` of a request on ``model`` (its first step run step ``start``):
        the AC values at ``draw_kw`` [kW] less the model's linear terms there; NaN where
        the power flow did not converge (no limit at that step)."""
        net = model.inputs.network
        assert net is not None
        values, _ = self._linearise(start, start + model.inputs.n_steps, draw_kw)
        linear = np.einsum("tes,ts->te", net.coef_per_kw, draw_kw)
        return np.asarray(values - linear, dtype=np.float64)

    def planned_draw(
        self, model: CohortLP, values: FloatArray | None, start: int,
        window: tuple[int, int] | None,
    ) -> FloatArray:  # fmt: skip
        """Each connection's draw in a plan [kW]: its import less export inside the plan's
        ``window`` (model steps), the draw without the road elsewhere (no plan: everywhere)."""
        n = model.inputs.n_steps
        site = self.site_kw[start : start + n].copy()
        if values is None:
            return site
        k0, k1 = window if window is not None else (0, n)
        draw = model.block(values, "imp") - model.block(values, "exp")
        site[k0:k1] = draw[k0:k1]
        return np.asarray(site, dtype=np.float64)

    def rebased(
        self, model: CohortLP, request: PlanRequest, values: FloatArray, start: int,
        checked_steps: int | None = None,
    ) -> PlanRequest | None:  # fmt: skip
        """The request re-linearised at the plan's draw if the AC power flow there is
        further from the linear prediction than the tolerances in the first
        ``checked_steps`` of the request's window (default: all of it); None if the
        linearisation holds.

        A receding-horizon plan checks the steps it dispatches before its next re-plan: that
        plan is linearised at this one's draw, so the later steps' linearisation is brought
        to the plan at each re-plan without a second solve."""
        if request.network_base is None:
            return None
        n = model.inputs.n_steps
        k0, k1 = request.window if request.window is not None else (0, n)
        draw = self.planned_draw(model, values, start, (k0, k1))
        ac, _ = self._linearise(start, start + n, draw)
        predicted = model.network_values(values, np.asarray(request.network_base))
        last = k1 if checked_steps is None else min(k1, k0 + checked_steps)
        off = np.abs(ac - predicted)[k0:last]
        if not np.any(np.nan_to_num(off, nan=0.0) > self._tolerance[None, :]):
            return None
        return dataclasses.replace(request, network_base=self.base(model, start, draw))
