"""Profit sharing measured from runs: the worth of every coalition of the road's partners.

The road's partners are the settlement roles that bring something the road earns with:

========================  =======================  ==========================================
player                    brings                   without it
========================  =======================  ==========================================
``road_operator``         the road                 nothing: ``v(S) = 0``
``retailer``              the partnership tariff   the road buys at a flat reference price:
                          (the price series)       ``settlement.reference_price_per_kwh``, or
                                                   the time mean of the run's price series
``renewable_owner``       stationary storage and   no storage, no local PV or wind
                          the local PV and wind
``automaker``             receiver integration     no V2G (every ``v2g_share`` 0, so no parked
                          and V2G                  V2G either), and each class's
                                                   ``receiver_share`` times
                                                   ``settlement.sold_share_without_automaker``
========================  =======================  ==========================================

For a coalition ``S`` with the road operator, the scenario's variant switches off what the
partners outside ``S`` bring (``model_copy``, nothing written) and is run under the caller's
strategy; ``v(S)`` is that run's ``margin`` KPI, the road's money (user revenue and export less
energy, network fees, the local plants' purchase, V2G refunds and payments, plus the value the
batteries gained), read, not recomputed. A partner that brings nothing to this scenario
(its variant is the scenario itself, e.g. a storage owner without storage) is no player.

The allocations of ``v(N)`` side by side: exact Shapley values (up to
:data:`EXACT_SHAPLEY_MAX_PLAYERS` players), Shapley values sampled from random join orders (with
their standard errors), the nucleolus and a least-core point (LPs on HiGHS,
:mod:`ersgrid.ledger.least_core`), and a proportional rule: ``v(N)`` in proportion to the
annualised capital and O&M of the assets each player brings (the economics' asset register:
road, substations and connection for the road operator, storage, PV and wind for their owner,
receivers for the automaker; the retailer brings none). Each is checked for core membership
and individual rationality.

Pure: it runs and returns figures, and writes nothing (``ersgrid coalitions`` writes
``coalitions.json``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.errors import ScenarioError
from ersgrid.ledger.least_core import CoreCheck, check_core, coalitions, least_core, nucleolus
from ersgrid.ledger.shapley import sampled_shapley_values, shapley_values
from ersgrid.run.peak import without_v2g
from ersgrid.run.runner import RunResult, run
from ersgrid.scenario.energy import RenewablesSpec
from ersgrid.scenario.schema import Scenario
from ersgrid.scenario.settlement import SettlementSpec

__all__ = [
    "ASSET_PLAYER",
    "EXACT_SHAPLEY_MAX_PLAYERS",
    "PLAYERS",
    "PLAYER_LABELS",
    "PLAYER_SHORT",
    "RULES",
    "Allocation",
    "CoalitionRun",
    "CoalitionStudy",
    "allocate",
    "asset_weights",
    "coalition_label",
    "coalition_scenario",
    "game_players",
    "reference_price",
    "run_coalitions",
    "with_computed_shares",
]

PLAYERS: tuple[str, ...] = ("road_operator", "retailer", "renewable_owner", "automaker")
"""The road's partners, in table order (settlement roles)."""

PLAYER_LABELS: dict[str, str] = {
    "road_operator": "road operator",
    "retailer": "utility/retailer",
    "renewable_owner": "storage and PV owner",
    "automaker": "automaker/fleet",
}

RULES: tuple[str, ...] = (
    "shapley", "shapley_sampled", "nucleolus", "least_core", "proportional_assets",
)  # fmt: skip
"""Allocation rules in table order."""

EXACT_SHAPLEY_MAX_PLAYERS = 10
"""Games up to this many players get exact Shapley values (``2^n`` worths); beyond, only the
sampled ones."""

ASSET_PLAYER: dict[str, str] = {
    "substations": "road_operator",
    "grid_connection": "road_operator",
    "inductive": "road_operator",
    "conductive_rail": "road_operator",
    "catenary": "road_operator",
    "storage": "renewable_owner",
    "pv": "renewable_owner",
    "wind": "renewable_owner",
    "receivers": "automaker",
}
"""Asset group of :func:`ersgrid.study.economics.asset_register` → the player that brings it."""

CoalitionProgress = Callable[[int, int, str], None]
"""Called as ``progress(finished_runs, total_runs, short_label)`` after each run."""

_KPIS = (
    "margin", "revenue", "export_revenue", "energy_cost", "network_fees", "renewable_purchase",
    "v2g_buyback", "v2g_payment", "energy_delivered_kwh", "grid_import_kwh",
    "v2g_discharged_kwh", "peak_import_kw",
)  # fmt: skip
"""KPIs kept for each coalition's run."""


PLAYER_SHORT: dict[str, str] = {
    "road_operator": "road",
    "retailer": "retail",
    "renewable_owner": "storage/PV",
    "automaker": "auto",
}
"""Short names of the players for tables."""


def coalition_label(members: Sequence[str], short: bool = False) -> str:
    """``road_operator+retailer`` (``road+retail`` when ``short``), in :data:`PLAYERS` order;
    ``(none)`` when empty."""
    shown = [PLAYER_SHORT[p] if short else p for p in PLAYERS if p in members]
    return "+".join(shown) if shown else "(none)"


def reference_price(scenario: Scenario, price_per_kwh: npt.NDArray[np.float64]) -> float:
    """Flat price the road pays without the retailer's partnership [currency/kWh]:
    ``settlement.reference_price_per_kwh``, or the time mean of the run's grid price series."""
    given = scenario.settlement.reference_price_per_kwh
    if given is not None:
        return float(given)
    return float(np.mean(np.asarray(price_per_kwh, dtype=np.float64)))


def coalition_scenario(
    scenario: Scenario, members: Sequence[str], reference_price_per_kwh: float
) -> Scenario:
    """The scenario as coalition ``members`` runs it (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
    members : sequence of str
        Players in the coalition; must hold ``road_operator``.
    reference_price_per_kwh : float [currency/kWh]
        Flat grid price without the retailer.

    Raises
    ------
    ValueError
        Without the road operator (that coalition has no run: ``v = 0``).
    """
    if "road_operator" not in members:
        raise ValueError("a coalition without the road operator has no road to run")
    update: dict[str, Any] = {}
    if "retailer" not in members:
        update["tariff"] = scenario.tariff.model_copy(
            update={"base_price_per_kwh": reference_price_per_kwh, "windows": []}
        )
        update["prices"] = scenario.prices.model_copy(update={"source": "tariff"})
    if "renewable_owner" not in members:
        update["storage"] = None
        update["renewables"] = RenewablesSpec()
    sc = scenario.model_copy(update=update)
    if "automaker" not in members:
        sold = scenario.settlement.sold_share_without_automaker
        sc = without_v2g(sc)
        vehicles = {
            k: v.model_copy(update={"receiver_share": v.receiver_share * sold})
            for k, v in sc.vehicles.items()
        }
        sc = sc.model_copy(update={"vehicles": vehicles})
    return sc


def game_players(scenario: Scenario, reference_price_per_kwh: float) -> list[str]:
    """The partners that bring something to this scenario: the road operator, and each other
    partner whose absence changes the scenario."""
    full = scenario.model_dump()
    out = ["road_operator"]
    for p in PLAYERS[1:]:
        others = [q for q in PLAYERS if q != p]
        if coalition_scenario(scenario, others, reference_price_per_kwh).model_dump() != full:
            out.append(p)
    return out


def asset_weights(scenario: Scenario, players: Sequence[str]) -> dict[str, float]:
    """Annualised capital and O&M of the assets each player brings [currency/a]
    (:data:`ASSET_PLAYER`; 0 for a player without assets).

    Raises
    ------
    ScenarioError
        If the costs need an exchange rate the scenario does not give.
    """
    from ersgrid.study.economics import asset_register

    weights = dict.fromkeys(players, 0.0)
    for a in asset_register(scenario):
        p = ASSET_PLAYER.get(a.name)
        if p in weights:
            weights[p] += a.annualised
    return weights


@dataclass(frozen=True)
class Allocation:
    """One rule's split of the grand coalition's worth.

    Attributes
    ----------
    rule : str
        One of :data:`RULES`.
    amounts : dict
        Player → amount [currency] (of the run's days).
    check : CoreCheck
        Core membership and individual rationality.
    std_errors : dict or None
        Sampled Shapley: player → standard error [currency].
    epsilon : float or None
        Least core: the smallest relaxation ``ε*`` [currency] (``<= 0``: the core is
        non-empty).
    note : str
    """

    rule: str
    amounts: dict[str, float]
    check: CoreCheck
    std_errors: dict[str, float] | None = None
    epsilon: float | None = None
    note: str = ""

    def shares(self) -> dict[str, float] | None:
        """Each player's share of ``v(N)`` [-] (sum 1), or None when ``v(N) <= 0`` (no
        margin to share)."""
        total = sum(self.amounts.values())
        if not total > 0.0:
            return None
        return {p: x / total for p, x in self.amounts.items()}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        c = self.check
        return {
            "rule": self.rule,
            "amounts": self.amounts,
            "shares": self.shares(),
            "std_errors": self.std_errors,
            "epsilon": self.epsilon,
            "in_core": c.in_core,
            "individually_rational": c.individually_rational,
            "max_excess": c.max_excess,
            "worst_coalition": list(c.worst_coalition),
            "tolerance": c.tolerance,
            "note": self.note,
        }


def allocate(
    players: Sequence[str],
    worth: Callable[[frozenset[str]], float],
    weights: dict[str, float] | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> list[Allocation]:
    """Every rule's allocation of ``worth(all players)``, each checked against the core.

    Parameters
    ----------
    players : sequence of str
    worth : callable
        Characteristic function [currency].
    weights : dict, optional
        Player → weight of the proportional rule (e.g. :func:`asset_weights`); without it,
        or with weights summing to 0, that rule is left out.
    samples : int
        Join orders of the sampled Shapley values (0: leave them out).
    seed : int
        Seed of the join orders.
    """
    names = list(players)
    cache = {s: float(worth(s)) for s in coalitions(names)} if len(names) <= 14 else None

    def v(s: frozenset[str]) -> float:
        return cache[s] if cache is not None else float(worth(s))

    out: list[Allocation] = []

    def add(rule: str, amounts: dict[str, float], **extra: Any) -> None:
        out.append(Allocation(rule, amounts, check_core(names, v, amounts), **extra))

    if len(names) <= EXACT_SHAPLEY_MAX_PLAYERS:
        add("shapley", shapley_values(names, v))
    if samples:
        est = sampled_shapley_values(names, v, samples=samples, seed=seed)
        add("shapley_sampled", est.values, std_errors=est.std_errors,
            note=f"{est.samples} random join orders, seed {seed}")  # fmt: skip
    add("nucleolus", nucleolus(names, v))
    lc = least_core(names, v)
    add(
        "least_core",
        lc.allocation,
        epsilon=lc.epsilon,
        note=(
            "a vertex of the least core (not unique; the nucleolus is its centre)"
            + ("; the core is empty: every coalition relaxed by epsilon" if lc.core_empty else "")
        ),
    )
    total_w = sum((weights or {}).values())
    if weights is not None and total_w > 0.0:
        grand = v(frozenset(names))
        add("proportional_assets", {p: grand * weights.get(p, 0.0) / total_w for p in names},
            note="in proportion to the annualised capital and O&M each player brings")  # fmt: skip
    return out


@dataclass(frozen=True)
class CoalitionRun:
    """One coalition's run.

    Attributes
    ----------
    members : tuple of str
        In :data:`PLAYERS` order.
    worth : float [currency]
        ``v(S)``: the run's ``margin`` KPI.
    kpis : dict
        The run's money and energy KPIs (``margin``, ``revenue``, ``energy_cost``, ...).
    wall_time_s : float [s]
    """

    members: tuple[str, ...]
    worth: float
    kpis: dict[str, float]
    wall_time_s: float


@dataclass
class CoalitionStudy:
    """What :func:`run_coalitions` measured: the worths and every rule's allocation."""

    scenario: str
    strategy: str
    days: float
    start: str
    currency: str
    players: list[str]
    reference_price_per_kwh: float
    runs: list[CoalitionRun]
    allocations: list[Allocation]
    wall_time_s: float
    dropped: list[str] = field(default_factory=list)

    def worth(self, members: frozenset[str]) -> float:
        """``v(S)`` [currency]: 0 without the road operator, else the run's margin."""
        for r in self.runs:
            if frozenset(r.members) == members:
                return r.worth
        if "road_operator" not in members:
            return 0.0
        raise KeyError(f"no run of coalition {coalition_label(sorted(members))}")

    def allocation(self, rule: str) -> Allocation:
        """The allocation of ``rule``.

        Raises
        ------
        ScenarioError
            If the study has no such rule (unknown, or left out for this game).
        """
        for a in self.allocations:
            if a.rule == rule:
                return a
        have = ", ".join(a.rule for a in self.allocations)
        raise ScenarioError(f"rule {rule!r}: this study has {have}")

    def as_dict(self, rule: str = "shapley") -> dict[str, Any]:
        """JSON-ready (``coalitions.json``); ``settlement`` holds ``rule``'s shares as a
        scenario's ``settlement`` section takes them (None when ``v(N) <= 0``)."""
        shares = self.allocation(rule).shares()
        return {
            "scenario": self.scenario,
            "strategy": self.strategy,
            "days": self.days,
            "start": self.start,
            "currency": self.currency,
            "players": self.players,
            "not_players": self.dropped,
            "reference_price_per_kwh": self.reference_price_per_kwh,
            "worth": "margin KPI of each coalition's run; 0 without the road operator",
            "coalitions": [
                {
                    "members": list(r.members),
                    "label": coalition_label(r.members),
                    "worth": r.worth,
                    "kpis": r.kpis,
                    "wall_time_s": r.wall_time_s,
                }
                for r in self.runs
            ],
            "allocations": [a.as_dict() for a in self.allocations],
            "settlement": (
                None
                if shares is None
                else {"benefit_sharing": "computed", "computed_shares": shares, "rule": rule}
            ),
            "wall_time_s": self.wall_time_s,
        }


def with_computed_shares(scenario: Scenario, shares: dict[str, float]) -> Scenario:
    """The scenario settling its margin by ``shares`` (``benefit_sharing: computed``).

    Raises
    ------
    ScenarioError
        If the shares break the settlement rules (road operator missing, sum not 1, ...).
    """
    from pydantic import ValidationError

    data = scenario.settlement.model_dump()
    data |= {"benefit_sharing": "computed", "computed_shares": dict(shares)}
    try:
        spec = SettlementSpec.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(f"settlement.computed_shares: {err.errors()[0]['msg']}") from None
    return scenario.model_copy(update={"settlement": spec})


def _kpis(result: RunResult) -> dict[str, float]:
    return {k: float(result.kpis[k]) for k in _KPIS if k in result.kpis}


def run_coalitions(
    scenario: Scenario,
    strategy: str = "uncontrolled",
    days: float = 1.0,
    start: dt.date | None = None,
    progress: CoalitionProgress | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> CoalitionStudy:
    """Run every coalition of the road's partners and allocate the grand coalition's worth.

    The grand coalition runs first (its price series sets the flat reference price); then each
    coalition with the road operator, one after another (``2^(n-1)`` runs for ``n`` players;
    each run is single-threaded and a handful of them gains little from a Dask cluster's
    start-up). Every run uses the same strategy, days, start and seed.

    Parameters
    ----------
    scenario : Scenario
    strategy : str
        Strategy of every run (built-in name or ``module:Class``).
    days : float [d]
    start : date, optional
        First local day (the scenario's by default).
    progress : callable, optional
        See :data:`CoalitionProgress`.
    samples : int
        Join orders of the sampled Shapley values (0: none).
    seed : int
        Seed of those orders.

    Raises
    ------
    ScenarioError, StrategyError, ...
        As :func:`ersgrid.run` raises them for any coalition's run.
    """
    wall0 = time.perf_counter()

    def timed(sc: Scenario) -> tuple[RunResult, float]:
        t0 = time.perf_counter()
        res = run(sc, strategy, days=days, start=start)
        return res, round(time.perf_counter() - t0, 3)

    grand_result, grand_s = timed(scenario)
    ref = reference_price(scenario, grand_result.timeseries["price_per_kwh"].to_numpy())
    players = game_players(scenario, ref)
    dropped = [p for p in PLAYERS if p not in players]
    with_road = [s for s in coalitions(players) if "road_operator" in s]
    total = len(with_road)
    grand = frozenset(players)
    runs = [
        CoalitionRun(
            tuple(p for p in PLAYERS if p in grand),
            float(grand_result.kpis["margin"]),
            _kpis(grand_result),
            grand_s,
        )
    ]
    if progress is not None:
        progress(1, total, coalition_label(players, short=True))
    for s in with_road:
        if s == grand:
            continue
        members = tuple(p for p in PLAYERS if p in s)
        res, wall_s = timed(coalition_scenario(scenario, members, ref))
        runs.append(CoalitionRun(members, float(res.kpis["margin"]), _kpis(res), wall_s))
        if progress is not None:
            progress(len(runs), total, coalition_label(members, short=True))
    runs.sort(key=lambda r: (len(r.members), [PLAYERS.index(p) for p in r.members]))
    by_members = {frozenset(r.members): r.worth for r in runs}

    def worth(s: frozenset[str]) -> float:
        return by_members.get(s, 0.0) if "road_operator" in s else 0.0

    try:
        weights: dict[str, float] | None = asset_weights(scenario, players)
    except ScenarioError:
        weights = None  # no exchange rate for the costs: no proportional rule
    allocations = allocate(players, worth, weights, samples=samples, seed=seed)
    first = grand_result.timeseries.index[0]
    return CoalitionStudy(
        scenario=scenario.name,
        strategy=grand_result.strategy,
        days=days,
        start=str(first),
        currency=scenario.currency,
        players=players,
        reference_price_per_kwh=ref,
        runs=runs,
        allocations=allocations,
        wall_time_s=round(time.perf_counter() - wall0, 3),
        dropped=dropped,
    )
