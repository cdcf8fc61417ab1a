"""``ersgrid size``: the storage unit size (and optionally the grid connections' import
capacity and the PV at each substation) that minimises a year's cost, from typical days.

The year is clustered into typical days (:func:`~ersgrid.study.typical_days.typical_days`).
Each day's perfect-hindsight LP is the oracle's
(:func:`~ersgrid.control.oracle.hindsight_model`, the realised vehicles of that day; on a
scenario with a grid section the oracle's network rows and planning margin, linearised at
the connections' draw without the road, unless :attr:`SizingOptions.network` is off) with
unbounded batteries; :class:`~ersgrid.optimize.sizing.SizingLP` stacks
them, weighs each day's operating cost by the days it stands for times the economics' year
scaling (``annualise.days_per_year`` over the days of the year, as
:func:`~ersgrid.study.typical_days.year_economics` scales the year), and adds the unit's
energy and power as columns priced at their annualised capital and O&M
(:func:`~ersgrid.study.economics.annual_cost_per_unit`, times the number of units) and the
year's peak import priced at the demand charge; with :attr:`SizingOptions.connections` each
connection's import capacity, with :attr:`SizingOptions.pv` each substation's modelled PV
(the day models then leave those arrays out of their renewables), each priced at its
annualised capital and O&M. HiGHS solves it once (one thread); each
point of a size's profile fixes that size and re-solves the rest, warm.

The objective is the year's annualised capital of the sized assets plus its operating
objective (the KPIs' ``objective``: energy bought, demand charge, wear, unmet-need and network
penalties, less sales to vehicles and export, the batteries' change of content at refill
cost), scaled to the year:
what the representative year under ``oracle`` with these sizes realises
(:func:`realised_cost`). Assets the sizing does not change (road, substations, and the grid
connections and PV unless sized) are left out of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.control.base import RunContext
from ersgrid.control.network import NetworkView
from ersgrid.control.oracle import hindsight_model
from ersgrid.errors import ScenarioError
from ersgrid.optimize.model import CohortLP
from ersgrid.optimize.request import PlanRequest
from ersgrid.optimize.sizing import CAPACITY, PV, SIZES, SizeBounds, SizingLP, StorageUnit
from ersgrid.optimize.solver import HighsSession
from ersgrid.optimize.storage import StorageArrays
from ersgrid.run.warmup import warmed_twin
from ersgrid.scenario.schema import Scenario
from ersgrid.study.economics import annual_cost_per_unit
from ersgrid.study.typical_days import TypicalDays, representative_year, typical_days
from ersgrid.timeindex import planning_index, warmup_steps
from ersgrid.world.world import World, build_world

__all__ = [
    "COST_LINES",
    "Sizing",
    "SizingOptions",
    "build_sizing",
    "capacities",
    "pv_kwp",
    "realised_cost",
    "size_storage",
    "start_vehicles",
    "storage_sweep",
    "with_sizes",
    "year_scale",
]

FloatArray = npt.NDArray[np.float64]

COST_LINES: dict[str, tuple[str, ...]] = {
    "storage_energy_capital": ("storage_energy_kwh",),
    "storage_power_capital": ("storage_power_kw",),
    "connection_capital": (CAPACITY,),
    "pv_capital": (PV,),
    "energy_bought": ("imp",),
    "demand_charge": ("year_peak_kw",),
    "storage_wear_and_content": ("ch", "dis"),
    "export_revenue": ("exp",),
    "energy_sales": ("x",),
    "v2g": ("y",),
    "unmet_need_penalty": ("u",),
    "network_penalty": ("nup", "ndn"),
}
"""The annual cost breakdown [currency/a] and the LP columns each line sums (revenues are
negative costs; ``import_capacity_kw`` every sized connection's); the lines sum to the
objective."""


@dataclass(frozen=True)
class SizingOptions:
    """Bounds of the sizes and the profile of :func:`size_storage`.

    Attributes
    ----------
    energy_kwh : (float, float) [kWh]
        Lower and upper bound of each unit's nameplate energy; equal bounds fix it.
    power_kw : (float, float) [kW]
        Lower and upper bound of each unit's power.
    pv : bool
        Also size the modelled PV at each substation with arrays (``renewables.pv``: its
        arrays scaled together), at ``economics.pv_per_kwp``.
    pv_kwp : (float, float) [kWp]
        Lower and upper bound of each substation's PV.
    connections : bool
        Also size the import capacity of every connection of ``grid.connections`` (its
        ``import_limit_kw``), at ``economics.grid_connection_per_kw``.
    capacity_kw : (float, float) [kW]
        Lower and upper bound of each sized connection's import capacity.
    network : bool
        On a scenario with a grid section, plan each day within the network's linearised
        voltage and loading limits, with the oracle's margin
        (:class:`~ersgrid.control.network.NetworkView`), as the oracle the sizing is
        checked against does; False: without network rows.
    profile_points : int
        Values of each storage size in its profile (0: no profile).
    time_limit_s : float [s]
        Per solve.
    """

    energy_kwh: tuple[float, float] = (0.0, math.inf)
    power_kw: tuple[float, float] = (0.0, math.inf)
    connections: bool = False
    capacity_kw: tuple[float, float] = (0.0, math.inf)
    pv: bool = False
    pv_kwp: tuple[float, float] = (0.0, math.inf)
    network: bool = True
    profile_points: int = 9
    time_limit_s: float = 3600.0

    def check(self) -> None:
        """Raise ScenarioError naming the option that is out of range."""
        for name, (lo, hi) in (
            ("energy-kwh", self.energy_kwh),
            ("power-kw", self.power_kw),
            ("capacity-kw", self.capacity_kw),
            ("pv-kwp", self.pv_kwp),
        ):
            if not (0.0 <= lo <= hi) or math.isnan(hi):
                raise ScenarioError(
                    f"--min-{name} {lo:g} / --max-{name} {hi:g}: give 0 <= min <= max"
                )
        if self.profile_points < 0 or self.profile_points == 1:
            raise ScenarioError(
                f"--profile-points {self.profile_points}: give 0 (no profile) or at least 2"
            )


@dataclass
class Sizing:
    """The sizes chosen and the year's cost at them.

    Attributes
    ----------
    scenario : str
    currency : str
    typical : TypicalDays
    sizes : dict of str to float
        :data:`~ersgrid.optimize.sizing.SIZES` per unit [kWh, kW], and the year's peak [kW];
        ``import_capacity_kw/<id>`` [kW] and ``pv_kwp/<id>`` [kWp] per sized asset.
    units : int
        Storage units (one per substation the storage section names).
    substations : list of str
        Their substations.
    annual_cost : float [currency/a]
        The LP's objective: storage capital and O&M plus the year's operating objective.
    breakdown : dict of str to float [currency/a]
        :data:`COST_LINES`.
    unit_costs : dict of str to float [currency/a per kWh or kW]
        Annual cost of one kWh and one kW of a unit.
    lp : dict of str to int
        Rows, columns and non-zeros of the LP.
    build_s, solve_s : float [s]
        Wall time of building the days' models and the LP, and of the first solve.
    profile : dict of str to list of (float, float)
        Per size: (value, annual cost) with that size fixed and the rest re-optimised.
    profile_s : float [s]
    """

    scenario: str
    currency: str
    typical: TypicalDays
    sizes: dict[str, float]
    units: int
    substations: list[str]
    annual_cost: float
    breakdown: dict[str, float]
    unit_costs: dict[str, float]
    lp: dict[str, int]
    build_s: float
    solve_s: float
    profile: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    profile_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "scenario": self.scenario,
            "currency": self.currency,
            "sizes": self.sizes,
            "units": self.units,
            "substations": self.substations,
            "annual_cost": self.annual_cost,
            "breakdown": self.breakdown,
            "unit_costs": self.unit_costs,
            "lp": self.lp,
            "build_s": self.build_s,
            "solve_s": self.solve_s,
            "profile": {k: [list(p) for p in v] for k, v in self.profile.items()},
            "profile_s": self.profile_s,
            "typical_days": self.typical.as_dict(),
        }


def year_scale(scenario: Scenario, typical: TypicalDays) -> float:
    """Operating figures of the representative year to a year of the economics [-]:
    ``annualise.days_per_year`` over the days of the calendar year."""
    return float(scenario.economics.annualise.days_per_year) / typical.days_in_year


def _unit(scenario: Scenario, n_substations: int, sub_ids: list[str]) -> StorageUnit:
    spec = scenario.storage
    if spec is None:
        raise ScenarioError(
            "storage: sizing needs a storage section (its efficiencies, state-of-charge "
            "window, degradation cost and the substations with a unit); add one"
        )
    present = np.array(
        [spec.substations is None or sid in spec.substations for sid in sub_ids], dtype=bool
    )
    if len(present) != n_substations or not present.any():
        raise ScenarioError("storage.substations: name at least one substation of the corridor")
    return StorageUnit(present, spec.soc_min, spec.soc_max, spec.soc_initial, tuple(sub_ids))


def pv_kwp(scenario: Scenario) -> dict[str, float]:
    """The modelled PV arrays' peak power at each substation that has any [kWp]."""
    out: dict[str, float] = {}
    for a in scenario.renewables.pv:
        out[a.substation] = out.get(a.substation, 0.0) + a.peak_kw
    return out


def start_vehicles(world: World) -> pd.DataFrame | None:
    """The vehicles on the road at the start of ``world`` in a run of it: the twin's state
    after the scenario's warm-up (:func:`~ersgrid.run.warmup.warmed_twin`; None without a
    warm-up or data before the start)."""
    steps = warmup_steps(world.scenario)
    warm = warmed_twin(world, world.layout, steps)[0] if steps > 0 else None
    return None if warm is None else warm.state()


def _day_model(
    scenario: Scenario, day: Any, size_pv: bool = False, network: bool = True
) -> tuple[CohortLP, list[str], FloatArray | None, PlanRequest | None]:
    """The oracle's LP of one typical day with unbounded batteries (and, with ``size_pv``,
    without the modelled PV arrays; with ``network`` and a grid section, with the oracle's
    network rows), their yield per kWp at each connection, and the request of the day's
    solve (its ``network_base``; None without network rows).

    The day's vehicles are those the twin's day run has: the ones on the road at its start
    (:func:`start_vehicles`, which the storage does not change) and the day's arrivals."""
    world = build_world(scenario, planning_index(scenario, 1.0, day))
    context = RunContext(world=world, energy=world.energy, layout=world.layout)
    vehicles = start_vehicles(world)
    n = world.layout.n_substations
    sub_ids = list(world.layout.sub_ids)
    others = None
    per_kwp = None
    if size_pv:
        plants = world.plants
        modelled = np.zeros_like(world.energy.renewable_kw)
        for i, (kind, sub) in enumerate(zip(plants.kinds, plants.substations, strict=True)):
            if kind == "pv" and not plants.measured[i]:
                modelled[:, sub_ids.index(sub)] += np.nan_to_num(plants.power_kw[:, i])
        kwp = pv_kwp(scenario)
        peak = np.array([kwp.get(sid, 0.0) for sid in sub_ids])
        per_kwp = modelled / np.where(peak > 0.0, peak, 1.0)
        others = np.maximum(world.energy.renewable_kw - modelled, 0.0)
    spec = scenario.storage
    assert spec is not None
    z = np.zeros(n)
    open_ = StorageArrays(
        z, np.full(n, np.inf), z.copy(), np.full(n, np.inf),
        spec.charge_efficiency, spec.discharge_efficiency,
    )  # fmt: skip
    view = NetworkView(context) if network and scenario.grid is not None else None
    rows = None if view is None else view.rows(0, len(context.index))
    model = hindsight_model(context, open_, renewable_kw=others, network=rows, vehicles=vehicles)
    request = None
    if view is not None:  # linearised at the connections' draw without the road, as the oracle
        request = PlanRequest(network_base=view.base(model, 0, view.site_kw))
    return model, sub_ids, per_kwp, request


def build_sizing(
    scenario: Scenario,
    typical: TypicalDays,
    options: SizingOptions,
    progress: Callable[[int, int], None] | None = None,
) -> SizingLP:
    """The sizing LP of ``scenario`` over ``typical`` (see the module).

    Raises
    ------
    ScenarioError
        Without a storage section, or if an exchange rate is missing.
    """
    options.check()
    models: list[CohortLP] = []
    yields: list[FloatArray] = []
    sub_ids: list[str] = []
    if scenario.storage is None:
        _unit(scenario, 0, [])
    if options.pv:
        _check_pv(scenario)
    requests: list[PlanRequest | None] = []
    for i, day in enumerate(typical.dates):
        model, sub_ids, per_kwp, request = _day_model(scenario, day, options.pv, options.network)
        models.append(model)
        requests.append(request)
        if per_kwp is not None:
            yields.append(per_kwp)
        if progress is not None:
            progress(i + 1, len(typical.dates))
    unit = _unit(scenario, models[0].inputs.n_substations, sub_ids)
    sized = _connections(scenario, sub_ids) if options.connections else np.zeros(0, dtype=bool)
    n_conn = int(sized.sum())
    kwp = pv_kwp(scenario)
    pv_at = np.array([options.pv and sid in kwp for sid in sub_ids], dtype=bool)
    n_pv = int(pv_at.sum())
    scale = year_scale(scenario, typical)
    days = typical.days_in_year
    annual = np.array(
        [
            unit.units * annual_cost_per_unit(scenario, "storage_energy_kwh"),
            unit.units * annual_cost_per_unit(scenario, "storage_power_kw"),
            scenario.tariff.demand_charge_per_kw * days * scale,
            *[annual_cost_per_unit(scenario, "import_capacity_kw")] * n_conn,
            *[annual_cost_per_unit(scenario, "pv_kwp")] * n_pv,
        ]
    )
    sizes = SizeBounds(
        lower=np.array([options.energy_kwh[0], options.power_kw[0], 0.0,
                        *[options.capacity_kw[0]] * n_conn, *[options.pv_kwp[0]] * n_pv]),
        upper=np.array([options.energy_kwh[1], options.power_kw[1], np.inf,
                        *[options.capacity_kw[1]] * n_conn, *[options.pv_kwp[1]] * n_pv]),
        annual_cost=annual,
    )  # fmt: skip
    weights = [w * scale for w in typical.weights]
    return SizingLP(
        models, weights, unit, sizes, sized if n_conn else None,
        pv_at if n_pv else None, yields if n_pv else None, requests,
    )  # fmt: skip


def _check_pv(scenario: Scenario) -> None:
    """PV sizing prices the arrays as the road's own: refuse what it cannot size."""
    if not scenario.renewables.pv:
        raise ScenarioError(
            "renewables.pv: sizing PV scales the modelled arrays at each substation; add one"
        )
    if scenario.settlement.ppa_price_per_kwh > 0:
        raise ScenarioError(
            "settlement.ppa_price_per_kwh: sizing PV prices the arrays as the road's own "
            "(capital, no purchase of their output); set it to 0 or leave out --pv"
        )


def _connections(scenario: Scenario, sub_ids: list[str]) -> npt.NDArray[np.bool_]:
    """The substations with a grid connection, whose import capacity is sized."""
    have = {c.substation for c in scenario.grid.connections} if scenario.grid else set()
    if not have:
        raise ScenarioError(
            "grid.connections: sizing the connections needs a grid section with the "
            "substations' connections; add one, or size the storage only"
        )
    return np.array([sid in have for sid in sub_ids], dtype=bool)


def _breakdown(lp: SizingLP, values: FloatArray) -> dict[str, float]:
    by = lp.cost_by_block(values)
    for prefix in (CAPACITY, PV):
        for name in [n for n in by if n.startswith(f"{prefix}/")]:
            by[prefix] = by.get(prefix, 0.0) + by.pop(name)
    return {line: sum(by.get(c, 0.0) for c in cols) for line, cols in COST_LINES.items()}


def size_storage(
    scenario: Scenario,
    typical: TypicalDays | int = 12,
    year: int | None = None,
    options: SizingOptions | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Sizing:
    """Choose the storage unit's energy and power that minimise the year's cost.

    Parameters
    ----------
    scenario : Scenario
        Resolved (seed and overrides applied), with a ``storage`` section.
    typical : TypicalDays or int
        The typical days, or how many to find.
    year : int, optional
        Calendar year when ``typical`` is a number.
    options : SizingOptions, optional
    progress : callable, optional
        Called as ``progress(stage, done, total)``: stage ``build`` per day model,
        ``solve`` before and after the solve, ``profile`` per profile solve.

    Raises
    ------
    ScenarioError
        On bad options, without a storage section, or if an exchange rate is missing.
    InfeasibleSchedule
        If HiGHS finds no optimum.
    """
    options = SizingOptions() if options is None else options
    options.check()
    if scenario.storage is None:
        _unit(scenario, 0, [])
    if isinstance(typical, int):
        typical = typical_days(scenario, typical, year)
    t0 = time.perf_counter()
    day_progress = None if progress is None else (lambda d, n: progress("build", d, n))
    lp = build_sizing(scenario, typical, options, day_progress)
    session = HighsSession(lp, time_limit_s=options.time_limit_s, threads=1)
    build_s = time.perf_counter() - t0
    if progress is not None:
        progress("solve", 0, 1)
    solution = session.solve_bounds(lp.bounds())
    if progress is not None:
        progress("solve", 1, 1)
    values = solution.values
    sizing = Sizing(
        scenario=scenario.name,
        currency=scenario.currency,
        typical=typical,
        sizes=lp.size_values(values),
        units=lp.unit.units,
        substations=[s for s, p in zip(lp.unit.ids, lp.unit.present, strict=True) if p],
        annual_cost=solution.objective,
        breakdown=_breakdown(lp, values),
        unit_costs={
            name: annual_cost_per_unit(scenario, name)
            for name in ("storage_energy_kwh", "storage_power_kw", CAPACITY, PV)
        },
        lp={"rows": lp.n_rows, "columns": lp.n_cols, "nonzeros": int(lp.matrix.nnz)},
        build_s=build_s,
        solve_s=solution.solve_s,
    )
    if options.profile_points:
        t1 = time.perf_counter()
        sizing.profile = _profile(lp, session, sizing.sizes, options, progress)
        sizing.profile_s = time.perf_counter() - t1
    return sizing


def _profile(
    lp: SizingLP,
    session: HighsSession,
    chosen: dict[str, float],
    options: SizingOptions,
    progress: Callable[[str, int, int], None] | None,
) -> dict[str, list[tuple[float, float]]]:
    """Per storage size: the annual cost with that size fixed at each of a grid of values
    (from its lower bound to twice the chosen value, within its upper bound) and the other
    sizes re-optimised, each solve warm from the last."""
    n = options.profile_points
    out: dict[str, list[tuple[float, float]]] = {}
    total = 2 * n
    done = 0
    for i, name in enumerate(SIZES[:2]):
        lo, hi = float(lp.sizes.lower[i]), float(lp.sizes.upper[i])
        top = min(hi, max(2.0 * chosen[name], lo + 1.0))
        points: list[tuple[float, float]] = []
        for v in np.linspace(lo, top, n):
            lower, upper = lp.sizes.lower.copy(), lp.sizes.upper.copy()
            lower[i] = upper[i] = float(v)
            sol = session.solve_bounds(lp.bounds(lower, upper))
            points.append((float(v), sol.objective))
            done += 1
            if progress is not None:
                progress("profile", done, total)
        out[name] = points
    return out


def with_sizes(
    scenario: Scenario,
    energy_kwh: float,
    power_kw: float,
    capacity_kw: dict[str, float] | None = None,
    pv_kwp_at: dict[str, float] | None = None,
    demand_target_kw: float | None = None,
) -> Scenario:
    """``scenario`` with each storage unit of ``energy_kwh`` [kWh] and ``power_kw`` [kW],
    the import limit of each connection of ``capacity_kw`` (substation id to kW), the
    modelled PV arrays at each substation of ``pv_kwp_at`` scaled to that total [kWp] (none
    left at 0), and ``demand_target_kw`` [kW] as the tariff's demand target (the sizing's
    ``year_peak_kw``: the peak the year's demand charge is sized for, which the plans then
    keep as a contract demand)."""
    spec = scenario.storage
    if spec is None:
        raise ScenarioError("storage: the scenario has no storage section to size")
    unit = spec.model_copy(update={"energy_kwh": float(energy_kwh), "power_kw": float(power_kw)})
    update: dict[str, Any] = {"storage": unit}
    if demand_target_kw is not None and demand_target_kw > 0.0:
        update["tariff"] = scenario.tariff.model_copy(
            update={"demand_target_kw": float(demand_target_kw)}
        )
    if capacity_kw:
        grid = scenario.grid
        if grid is None:
            raise ScenarioError("grid.connections: no grid section to set import limits in")
        conns = [
            c.model_copy(update={"import_limit_kw": float(capacity_kw[c.substation])})
            if c.substation in capacity_kw
            else c
            for c in grid.connections
        ]
        update["grid"] = grid.model_copy(update={"connections": conns})
    if pv_kwp_at:
        now = pv_kwp(scenario)
        arrays = []
        for a in scenario.renewables.pv:
            if a.substation not in pv_kwp_at:
                arrays.append(a)
            elif pv_kwp_at[a.substation] > 0.0:
                ratio = pv_kwp_at[a.substation] / now[a.substation]
                arrays.append(a.model_copy(update={"peak_kw": a.peak_kw * ratio}))
        update["renewables"] = scenario.renewables.model_copy(update={"pv": arrays})
    return scenario.model_copy(update=update)


def capacities(sizing: Sizing, prefix: str = CAPACITY) -> dict[str, float]:
    """The sized connections' import capacities (or with ``prefix`` :data:`PV` the sized
    PV), substation id to kW (kWp)."""
    head = f"{prefix}/"
    return {k[len(head) :]: v for k, v in sizing.sizes.items() if k.startswith(head)}


def realised_cost(
    scenario: Scenario,
    typical: TypicalDays,
    strategy: str = "oracle",
    connections: Sequence[str] = (),
    pv: Sequence[str] = (),
) -> tuple[float, dict[str, Any]]:
    """The year's cost the twin realises with the scenario's storage, on the terms of the
    sizing objective: storage capital and O&M (and that of the import limits of the
    ``connections`` and of the modelled PV at the substations ``pv``) plus the representative
    year's ``objective`` scaled to the economics' year [currency/a]; and the year's KPIs."""
    year = representative_year(scenario, strategy, typical)
    spec = scenario.storage
    capital = 0.0
    if spec is not None:
        units = len(spec.substations) if spec.substations is not None else len(scenario.substations)
        capital = units * (
            spec.energy_kwh * annual_cost_per_unit(scenario, "storage_energy_kwh")
            + spec.power_kw * annual_cost_per_unit(scenario, "storage_power_kw")
        )
    limits = (
        {c.substation: c.import_limit_kw for c in scenario.grid.connections}
        if (scenario.grid)
        else {}
    )
    for sid in connections:
        kw = limits.get(sid)
        if kw is None:
            raise ScenarioError(f"grid.connections: {sid} has no import limit to cost")
        capital += kw * annual_cost_per_unit(scenario, CAPACITY)
    kwp = pv_kwp(scenario)
    capital += sum(kwp.get(sid, 0.0) for sid in pv) * annual_cost_per_unit(scenario, PV)
    return capital + float(year.kpis["objective"]) * year_scale(scenario, typical), year.kpis


def storage_sweep(
    scenario: Scenario,
    typical: TypicalDays,
    energies_kwh: Sequence[float],
    power_kw: float,
    strategy: str = "oracle",
    demand_target_kw: float | None = None,
) -> list[float]:
    """The year's realised cost (:func:`realised_cost`) with each unit of each energy in
    ``energies_kwh`` [kWh], ``power_kw`` [kW] and the demand target ``demand_target_kw``
    [kW] (:func:`with_sizes`): the representative year run by the twin once per size, the
    check of what :func:`size_storage` chooses [currency/a]."""
    return [
        realised_cost(
            with_sizes(scenario, e, power_kw, demand_target_kw=demand_target_kw), typical, strategy
        )[0]
        for e in energies_kwh
    ]
