"""Key performance indicators of a run, and the readable trips table."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import SimulationError
from ersgrid.optimize.objective import ObjectiveWeights, refill_cost_per_kwh
from ersgrid.scenario.economics import COUNTERFACTUAL_KPIS
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.scenario.v2g import wear_cost
from ersgrid.timeindex import PLANNING_STEP_H, planning_step_of

__all__ = [
    "KPI_COMBINE",
    "MARGIN_TERMS",
    "OBJECTIVE_TERMS",
    "combine_kpis",
    "compute_kpis",
    "pseudonym",
    "trips_table",
]

ENERGY_TOLERANCE = 1e-6
"""Relative tolerance of the energy-conservation check of every run [-]."""

MARGIN_TERMS: tuple[tuple[str, int], ...] = (
    ("revenue", 1),
    ("export_revenue", 1),
    ("grid_energy_cost", -1),
    ("network_fees", -1),
    ("renewable_purchase", -1),
    ("v2g_buyback", -1),
    ("v2g_payment", -1),
    ("stored_energy_value", 1),
)
"""The KPIs (key, sign) whose signed sum is ``margin`` [currency]: the money of the run."""

OBJECTIVE_TERMS: tuple[tuple[str, int], ...] = (
    ("demand_charge", -1),
    ("carbon_cost", -1),
    ("storage_wear_cost", -1),
    ("v2g_wear_cost", -1),
    ("shortfall_penalty", -1),
    ("network_penalty", -1),
    ("stored_energy_carbon_value", 1),
)
"""The KPIs (key, sign) that take ``margin`` to ``−objective`` [currency]: ``objective =
−(margin + Σ sign × KPI)``, the costs the planner weighs beyond the money (demand charge,
carbon, wear, the penalties on unmet energy and on the excess over the network's limits) and
the carbon part of the stored energy's value."""


def pseudonym(seed: int, vehicle_id: npt.NDArray[np.int64]) -> list[str]:
    """Run-level pseudonymous ids: a keyed BLAKE2b hash of the vehicle id (16 hex digits)."""
    key = int(seed).to_bytes(8, "little", signed=False)
    return [
        hashlib.blake2b(int(v).to_bytes(8, "little"), key=key, digest_size=8).hexdigest()
        for v in vehicle_id
    ]


def trips_table(
    raw: pd.DataFrame,
    scenario: Scenario,
    layout: Layout,
    t0: pd.Timestamp,
    dt_s: float,
    under_way: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None,
) -> pd.DataFrame:
    """Turn the twin's raw trip records into one readable row per trip.

    Columns: ``vehicle`` (pseudonym), ``vehicle_class``, ``direction``, ``entry_time``,
    ``exit_time``, ``entry``/``exit`` (interchange names), ``entry_km``/``exit_km`` [km],
    ``soc_entry``/``soc_exit``/``soc_target`` [-], ``energy_received_kwh`` (battery side),
    ``energy_from_grid_kwh``, ``shortfall_kwh`` (to the exit target), ``depleted_kwh``.

    Parameters
    ----------
    under_way : (ids, km), optional
        Vehicles already on the road at the run's start and their road kilometre then [km]:
        their trips count from the start (``entry_time``, ``entry_km`` and ``soc_entry``
        are those at the start; ``entry`` stays the interchange they came on at).
    """
    ids = raw["vehicle_id"].to_numpy(dtype=np.int64)
    entry_ic = raw["entry_ic"].to_numpy(dtype=np.int64)
    exit_ic = raw["exit_ic"].to_numpy(dtype=np.int64)
    battery = raw["battery_kwh"].to_numpy()
    exit_energy = raw["exit_energy_kwh"].to_numpy()
    target = raw["target_kwh"].to_numpy()
    names = np.asarray(layout.ic_names, dtype=object)
    step = pd.Timedelta(seconds=dt_s)
    table = pd.DataFrame(
        {
            "vehicle": pseudonym(scenario.seed, ids),
            "vehicle_class": np.asarray(VEHICLE_CLASSES, dtype=object)[raw["vclass"].to_numpy(int)],
            "direction": np.where(raw["direction"].to_numpy() == 0, "A", "B"),
            "entry_time": t0 + raw["entry_step"].to_numpy() * step,
            "exit_time": t0 + raw["exit_step"].to_numpy() * step,
            "entry": names[entry_ic] if len(raw) else np.array([], dtype=object),
            "exit": names[exit_ic] if len(raw) else np.array([], dtype=object),
            "entry_km": layout.ic_position_km[entry_ic],
            "exit_km": layout.ic_position_km[exit_ic],
            "soc_entry": raw["entry_energy_kwh"].to_numpy() / battery,
            "soc_exit": exit_energy / battery,
            "soc_target": target / battery,
            "energy_received_kwh": raw["received_battery_kwh"].to_numpy(),
            "energy_from_grid_kwh": raw["received_grid_kwh"].to_numpy(),
            "v2g_battery_kwh": raw["v2g_battery_kwh"].to_numpy(),
            "v2g_grid_kwh": raw["v2g_grid_kwh"].to_numpy(),
            "shortfall_kwh": np.maximum(target - exit_energy, 0.0),
            "depleted_kwh": raw["depleted_kwh"].to_numpy(),
        }
    )
    if under_way is not None and len(under_way[0]) and len(raw):
        where = pd.Series(under_way[1], index=under_way[0])
        started = np.isin(ids, under_way[0])
        table.loc[started, "entry_km"] = where.loc[ids[started]].to_numpy()
    return table.sort_values("exit_time", kind="stable").reset_index(drop=True)


def compute_kpis(
    *,
    scenario: Scenario,
    strategy: str,
    timeseries: pd.DataFrame,
    trips: pd.DataFrame,
    passes: pd.DataFrame,
    twin_step_s: float,
    metered_kwh: dict[str, float],
    on_road_kwh: dict[str, float],
    vehicles_on_road_at_end: int,
    limit_violations: dict[str, int],
    vehicle_steps: int,
    days: float,
    fallbacks: int = 0,
    storage_discharged_kwh: float = 0.0,
    storage_change_kwh: float = 0.0,
) -> dict[str, Any]:
    """The KPIs of a run (``kpis.json``); checks energy conservation on the way.

    Parameters
    ----------
    passes : DataFrame
        The twin's metered passes (``end_step`` [twin steps], ``battery_kwh`` [kWh]): what the
        vehicles pay and are refunded, priced as the ledger prices their records.
    twin_step_s : float [s]
    metered_kwh : dict [kWh]
        Segment meters summed over the run: ``grid``, ``battery`` (charging), ``v2g_grid``,
        ``v2g_battery`` (V2G, positive).
    on_road_kwh : dict [kWh]
        The same quantities for vehicles still on the road (keys ``grid``, ``battery``,
        ``v2g_grid``, ``v2g_battery``), as counted by the vehicles themselves.

    ``import_cost`` is what the grid energy cost at the run's prices; ``energy_cost`` (and
    ``margin``) carry the change of the energy stored in the stationary batteries at
    ``stored_energy_value_per_kwh``, the run's cheapest price over the charge efficiency (what
    it would cost to put a kWh back), so runs of any length compare fairly: filling the
    batteries is not a cost, emptying them is not a gain. ``objective`` is
    :mod:`ersgrid.optimize.objective`'s on the realised run, with the stored energy valued the
    same way plus its carbon cost.

    Raises
    ------
    SimulationError
        If what the segments metered does not equal what the vehicles counted, in either
        direction and on either side, within :data:`ENERGY_TOLERANCE`.
    """
    dt_h = PLANNING_STEP_H
    import_kwh = timeseries["grid_import_kw"].to_numpy() * dt_h
    export_kwh = timeseries["grid_export_kw"].to_numpy() * dt_h
    price = timeseries["price_per_kwh"].to_numpy()
    co2 = timeseries["co2_kg_per_kwh"].to_numpy()
    columns = {
        "grid": "energy_from_grid_kwh",
        "battery": "energy_received_kwh",
        "v2g_grid": "v2g_grid_kwh",
        "v2g_battery": "v2g_battery_kwh",
    }
    scale = max(metered_kwh["grid"], 1.0)
    balance_error = 0.0
    for key, column in columns.items():
        counted = float(trips[column].sum()) + on_road_kwh[key]
        error = abs(metered_kwh[key] - counted)
        balance_error = max(balance_error, error)
        if error > ENERGY_TOLERANCE * scale:
            raise SimulationError(
                f"energy not conserved ({key}): segments metered {metered_kwh[key]:.6f} kWh, "
                f"vehicles counted {counted:.6f} kWh"
            )
    road_grid = metered_kwh["grid"] - metered_kwh["v2g_grid"]
    delivered = metered_kwh["battery"]
    import_cost = float((import_kwh * price).sum())
    # what the batteries gained is worth what it would cost to put back: the run's cheapest
    # price over the charge efficiency (so a short run is not billed for filling them)
    stored_value_per_kwh = refill_cost_per_kwh(scenario, price, co2, with_carbon=False)
    stored_value = storage_change_kwh * stored_value_per_kwh
    energy_cost = import_cost - stored_value
    fee = timeseries["network_fee_per_kwh"].to_numpy() if "network_fee_per_kwh" in timeseries else 0
    network_fees = float((import_kwh * fee).sum())
    # the local plants' delivered output (not curtailed), bought from their owner
    delivered_renewable_kwh = float(
        (timeseries["renewable_kw"] - timeseries["curtailed_kw"]).to_numpy().sum() * dt_h
    )
    renewable_purchase = delivered_renewable_kwh * scenario.settlement.ppa_price_per_kwh
    below = trips["shortfall_kwh"].to_numpy() > 1e-6
    w = ObjectiveWeights.from_scenario(scenario, days=days)
    # every pass is priced at the user price of the step it ends in, as the ledger's
    # settlement prices its record: users pay it for what reached their battery, and owners
    # are refunded it for every kWh their battery returns (they bought it at that price), on
    # top of the payment for taking part
    user_price = timeseries["user_price_per_kwh"].to_numpy()
    end_ms = np.rint(passes["end_step"].to_numpy() * twin_step_s * 1000.0).astype(np.int64)
    k = planning_step_of(end_ms, 0, round(dt_h * 3_600_000), len(timeseries))
    battery = passes["battery_kwh"].to_numpy(dtype=np.float64)
    charging = battery > 0.0
    revenue = float((battery[charging] * user_price[k[charging]]).sum())
    v2g_out = metered_kwh["v2g_battery"]
    returned = np.where(charging, 0.0, -battery)
    v2g_buyback = float((returned * user_price[k]).sum())
    v2g_payment = float(returned.sum()) * scenario.response.v2g_payment_per_kwh
    v2g_wear = v2g_out * wear_cost(scenario.v2g, scenario.currency)
    export_revenue = float(export_kwh.sum()) * w.export_price_per_kwh
    unmet = float(trips["shortfall_kwh"].sum())
    co2_kg = float((import_kwh * co2).sum())
    peak_kw = float(timeseries["grid_import_kw"].max())
    demand_charge = w.demand_charge_per_kw * peak_kw
    refill_with_carbon = refill_cost_per_kwh(scenario, price, co2)
    # what the power flow of the realised draw found beyond the network's limits, in the
    # planner's unit (kW-equivalent) and at its price (None: the scenario has no network)
    excess_kwh_eq = (
        float(timeseries["grid_excess_kw_eq"].to_numpy().sum() * dt_h)
        if "grid_excess_kw_eq" in timeseries
        else None
    )
    terms = {
        "revenue": revenue,
        "export_revenue": export_revenue,
        "grid_energy_cost": import_cost - network_fees,
        "network_fees": network_fees,
        "renewable_purchase": renewable_purchase,
        "v2g_buyback": v2g_buyback,
        "v2g_payment": v2g_payment,
        "stored_energy_value": stored_value,
        "demand_charge": demand_charge,
        "carbon_cost": w.carbon_price_per_kg * co2_kg,
        "storage_wear_cost": w.degradation_cost_per_kwh * storage_discharged_kwh,
        "v2g_wear_cost": v2g_wear,
        "shortfall_penalty": w.shortfall_penalty_per_kwh * unmet,
        "network_penalty": w.network_penalty_per_kwh_eq * (excess_kwh_eq or 0.0),
        "stored_energy_carbon_value": storage_change_kwh * refill_with_carbon - stored_value,
    }
    margin = sum(sign * terms[key] for key, sign in MARGIN_TERMS)
    objective = -(margin + sum(sign * terms[key] for key, sign in OBJECTIVE_TERMS))
    return {
        "scenario": scenario.name,
        "strategy": strategy,
        "seed": scenario.seed,
        "currency": scenario.currency,
        "start": str(timeseries.index[0]),
        "days": days,
        "energy_delivered_kwh": delivered,
        "road_energy_kwh": road_grid,
        "v2g_discharged_kwh": metered_kwh["v2g_battery"],
        "v2g_to_grid_kwh": metered_kwh["v2g_grid"],
        "grid_import_kwh": float(import_kwh.sum()),
        "grid_export_kwh": float(export_kwh.sum()),
        "losses_kwh": road_grid - delivered + metered_kwh["v2g_battery"],
        "peak_import_kw": peak_kw,
        "demand_charge": demand_charge,
        "peak_road_kw": float(timeseries["road_power_kw"].max()),
        "import_cost": import_cost,
        "network_fees": network_fees,
        "renewable_purchase": renewable_purchase,
        "stored_energy_value": stored_value,
        "stored_energy_value_per_kwh": stored_value_per_kwh,
        "energy_cost": energy_cost,
        "co2_kg": co2_kg,
        "cost_per_kwh_delivered": energy_cost / delivered if delivered > 0 else float("nan"),
        "trips": len(trips),
        "unmet_energy_kwh": unmet,
        "network_excess_kwh_eq": excess_kwh_eq,
        "revenue": revenue,
        "export_revenue": export_revenue,
        "margin": margin,
        "objective": objective,
        **terms,
        "storage_discharged_kwh": storage_discharged_kwh,
        "storage_change_kwh": storage_change_kwh,
        "fallbacks": int(fallbacks),
        "trips_below_target": int(below.sum()),
        "depleted_kwh": float(trips["depleted_kwh"].sum()),
        "mean_soc_exit": float(trips["soc_exit"].mean()) if len(trips) else float("nan"),
        "limit_violations": int(sum(limit_violations.values())),
        **{f"limit_violations_{kind}": int(n) for kind, n in limit_violations.items()},
        "vehicles_on_road_at_end": vehicles_on_road_at_end,
        "vehicle_steps": vehicle_steps,
        "energy_balance_error_kwh": balance_error,
    }


_SUM = (
    "days", "energy_delivered_kwh", "road_energy_kwh", "v2g_discharged_kwh", "v2g_to_grid_kwh",
    "grid_import_kwh", "grid_export_kwh", "losses_kwh", "import_cost", "network_fees",
    "renewable_purchase", "stored_energy_value", "energy_cost", "co2_kg", "trips",
    "unmet_energy_kwh", "revenue", "export_revenue", "margin", "v2g_buyback", "v2g_payment",
    "v2g_wear_cost", "storage_discharged_kwh", "storage_change_kwh", "fallbacks",
    "trips_below_target", "depleted_kwh", "limit_violations", "limit_violations_rating",
    "limit_violations_import", "limit_violations_dr", "limit_violations_export",
    "vehicle_steps", "renewable_kwh", "renewable_used_kwh", "renewable_other_kwh",
    "renewable_exported_kwh", "curtailed_kwh", "voltage_violations", "loading_violations",
    "powerflow_failures", "grid_check_s", "trips_shifted_expected", "wall_time_s",
    "ledger_records", "ledger_blocks", "ledger_wall_time_s", "dr_events", "dr_reduction_kwh",
    "dr_reduction_cbl_kwh", "grid_energy_cost", "carbon_cost", "storage_wear_cost",
    "shortfall_penalty", "stored_energy_carbon_value", "planned_network_slack_steps",
    "network_penalty", "network_excess_kwh_eq",
)  # fmt: skip
_OMIT = (
    "capex", "annual_energy_sales", "annual_operating_margin", "npv", "irr", "lcoe_per_kwh",
    "economics_not_computed",
    *COUNTERFACTUAL_KPIS,
)  # fmt: skip
"""A block's economics (scaled from that block to a year): not combined; the economics of
the combined run are computed again from its combined KPIs (``ersgrid.study.economics``)."""
_MAX = (
    "peak_import_kw", "peak_road_kw", "max_voltage_pu", "max_loading_pct",
    "energy_balance_error_kwh", "dr_max_excess_kw", "peak_import_no_v2g_kw",
)  # fmt: skip
KPI_COMBINE: dict[str, str] = {
    **dict.fromkeys(_SUM, "sum"),
    **dict.fromkeys(_MAX, "max"),
    **dict.fromkeys(("min_voltage_pu", "stored_energy_value_per_kwh"), "min"),
    **dict.fromkeys(("scenario", "strategy", "seed", "currency", "network", "weather"), "same"),
    "dr_baseline": "same",
    "planned_network_limits": "max",
    "start": "first",
    "vehicles_on_road_at_end": "last",
    **dict.fromkeys(("settlement_balanced", "dr_honoured"), "all"),
    **dict.fromkeys(("notes", "powerflow_failure_messages"), "join"),
    **dict.fromkeys(_OMIT, "omit"),
    **dict.fromkeys(
        (
            "demand_charge",
            "objective",
            "cost_per_kwh_delivered",
            "mean_soc_exit",
            "renewable_share",
            "peak_reduction_kw",
        ),
        "derived",
    ),
}
"""How :func:`combine_kpis` combines each KPI of consecutive blocks: ``sum`` (additive
energies, money, counts and times), ``max``/``min`` (peaks and extremes), ``same`` (must agree),
``first``/``last`` (the first block's start, the last block's end), ``all`` (every block's
check holds), ``join`` (lists, in order), ``omit`` (left out: a block's economics, computed
again for the whole) and ``derived`` (recomputed from the combined
figures: see :func:`combine_kpis`)."""


def combine_kpis(
    blocks: Sequence[Mapping[str, Any]], weights: Sequence[float] | None = None
) -> dict[str, Any]:
    """The KPIs of consecutive chained runs as one run's (e.g. a year run as 52 weeks), or of
    representative days as the period they stand for (with ``weights``).

    Additive KPIs add, peaks take the highest, ratios are recomputed from the combined
    figures (see :data:`KPI_COMBINE` for every key):

    - ``cost_per_kwh_delivered`` = combined ``energy_cost`` / ``energy_delivered_kwh``;
    - ``mean_soc_exit``: the mean over all trips (each block's weighted by its trips);
    - ``renewable_share``: the renewable energy used by the road over the road's draw, both
      summed (each block's draw is its ``renewable_used_kwh`` / ``renewable_share``);
    - ``demand_charge``: the tariff's daily rate (each block's charge over its days and
      peak) times the combined days and the combined peak, as one run's; ``objective``
      carries the difference;
    - ``peak_reduction_kw``: the combined peak without V2G less the combined peak.

    Without weights the blocks must follow one another (chained with ``start_state``); each
    values the change of its batteries' energy at its own cheapest price
    (``stored_energy_value``), which a single long run values at the cheapest of all.

    With weights, block ``i`` stands for ``weights[i]`` blocks like it (a typical day for
    the days of its cluster): every ``sum`` KPI is the weighted sum ``Σ wᵢ xᵢ`` (``days``
    included, so a year's typical days give 365 days), ``max``/``min`` KPIs stay the
    extremes over the blocks (a peak is not weighted), the trip-weighted mean and the
    renewable share weigh each block's trips and draw by its weight, and the demand charge
    is the daily rate times the weighted days times the highest peak. A block of weight 0
    counts in no sum but still in the extremes.

    Parameters
    ----------
    blocks : sequence of mapping
        Each block's ``kpis``, in time order.
    weights : sequence of float [-], optional
        Blocks each block stands for, ``>= 0``, one per block; all 1 by default.

    Raises
    ------
    ValueError
        With no block, a KPI :data:`KPI_COMBINE` does not know, a ``same`` KPI that
        differs between blocks, or weights that are not one finite non-negative number per
        block.
    """
    if not blocks:
        raise ValueError("combine_kpis needs at least one block")
    if weights is None:
        w = [1.0] * len(blocks)
    else:
        w = [float(x) for x in weights]
        if len(w) != len(blocks) or not all(math.isfinite(x) and x >= 0.0 for x in w):
            raise ValueError(
                f"combine_kpis: {len(w)} weights for {len(blocks)} blocks; give one finite "
                "weight >= 0 per block"
            )
    keys: list[str] = []
    for b in blocks:
        keys += [k for k in b if k not in keys]
    unknown = [k for k in keys if k not in KPI_COMBINE]
    if unknown:
        raise ValueError(f"combine_kpis does not know how to combine {unknown}: add to KPI_COMBINE")
    out: dict[str, Any] = {}
    for key in keys:
        values = [b[key] for b in blocks if key in b]
        rule = KPI_COMBINE[key]
        if rule == "omit":
            continue
        if rule in ("sum", "max", "min") and all(v is None for v in values):
            out[key] = None  # not measured in any block (e.g. the grid's, without a grid)
        elif rule == "sum":
            if weights is None:
                out[key] = sum(values)
            else:
                out[key] = sum(wi * b[key] for wi, b in zip(w, blocks, strict=True) if key in b)
        elif rule == "max":
            out[key] = max(values)
        elif rule == "min":
            out[key] = min(values)
        elif rule == "same":
            if any(v != values[0] for v in values):
                raise ValueError(f"KPI {key!r} differs between the blocks: {values}")
            out[key] = values[0]
        elif rule == "first":
            out[key] = values[0]
        elif rule == "last":
            out[key] = values[-1]
        elif rule == "all":
            out[key] = all(bool(v) for v in values)
        elif rule == "join":
            out[key] = [item for v in values for item in v]
        else:  # derived: recomputed below from the combined figures
            out[key] = float("nan")
    _derived(blocks, w, out)
    return out


def _derived(blocks: Sequence[Mapping[str, Any]], w: Sequence[float], out: dict[str, Any]) -> None:
    """The ratios and the demand charge of combined blocks of weights ``w`` (see
    :func:`combine_kpis`)."""
    if "energy_cost" in out and "energy_delivered_kwh" in out:
        delivered = out["energy_delivered_kwh"]
        out["cost_per_kwh_delivered"] = (
            out["energy_cost"] / delivered if delivered > 0 else float("nan")
        )
    if "mean_soc_exit" in out:
        weighted = [
            (b["mean_soc_exit"], wi * b.get("trips", 0))
            for wi, b in zip(w, blocks, strict=True)
            if wi * b.get("trips", 0)
        ]
        n = sum(t for _, t in weighted)
        out["mean_soc_exit"] = sum(m * t for m, t in weighted) / n if n else float("nan")
    if "renewable_share" in out:
        draw = 0.0
        for wi, b in zip(w, blocks, strict=True):
            share, used = b.get("renewable_share", float("nan")), b.get("renewable_used_kwh", 0.0)
            own = used / share if share > 0 else max(float(b.get("road_energy_kwh", 0.0)), 0.0)
            draw += wi * own
        out["renewable_share"] = out["renewable_used_kwh"] / draw if draw > 0 else float("nan")
    if "demand_charge" in out:
        rates = [
            b["demand_charge"] / (b["days"] * b["peak_import_kw"])
            for b in blocks
            if b.get("peak_import_kw", 0.0) > 0 and b.get("days", 0.0) > 0
        ]
        charged = sum(wi * b["demand_charge"] for wi, b in zip(w, blocks, strict=True))
        combined = max(rates) * out["days"] * out["peak_import_kw"] if rates else charged
        out["demand_charge"] = combined
        if "objective" in out:
            objective = sum(wi * b["objective"] for wi, b in zip(w, blocks, strict=True))
            out["objective"] = objective - charged + combined
    elif "objective" in out:
        out["objective"] = sum(wi * b["objective"] for wi, b in zip(w, blocks, strict=True))
    if "peak_reduction_kw" in out and "peak_import_no_v2g_kw" in out:
        out["peak_reduction_kw"] = out["peak_import_no_v2g_kw"] - out["peak_import_kw"]
