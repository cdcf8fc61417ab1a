"""Settlement: one period's metering records turned into statements for every party.

Money is in integer micro-units of the scenario's currency (1e-6), computed record by record as
``round(energy_mwh × price_per_kwh)`` (a mWh is 1e-6 kWh), and moved only by *transfers*
between two parties, so each period's statements sum to exactly zero. See
:class:`ersgrid.scenario.settlement.SettlementSpec` for the rules and ``docs/ledger.md`` for
the Shapley game.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.ledger.merkle import merkle_root
from ersgrid.ledger.records import Direction
from ersgrid.ledger.shapley import shapley_values
from ersgrid.scenario.settlement import SettlementSpec

__all__ = [
    "MICRO",
    "PeriodSettlement",
    "check_balance",
    "item_totals",
    "margin_game",
    "settle_period",
    "statement_leaf",
]

MICRO = 1_000_000
"""Micro-units per currency unit."""
STATEMENT_PREFIX = b"\x03"


def statement_leaf(body: str) -> bytes:
    """Leaf hash of a statement's canonical JSON."""
    return hashlib.sha256(STATEMENT_PREFIX + body.encode()).digest()


@dataclass
class PeriodSettlement:
    """Statements of one period: party id → statement (JSON-ready dict)."""

    period: int
    statements: dict[str, dict[str, Any]] = field(default_factory=dict)

    def canonical(self) -> list[tuple[str, str, bytes]]:
        """(party, canonical JSON, leaf) sorted by party id."""
        out = []
        for party in sorted(self.statements):
            body = json.dumps(self.statements[party], sort_keys=True, separators=(",", ":"))
            out.append((party, body, statement_leaf(body)))
        return out

    def root(self) -> bytes:
        """Merkle root over the statements' leaves."""
        return merkle_root([leaf for _, _, leaf in self.canonical()])


def _largest_remainder(values: dict[str, float], total: int) -> dict[str, int]:
    """Round ``values`` to integers that sum exactly to ``total``."""
    floors = {k: int(np.floor(v)) for k, v in values.items()}
    short = total - sum(floors.values())
    order = sorted(values, key=lambda k: (floors[k] - values[k], k))
    for k in order[: max(short, 0)]:
        floors[k] += 1
    if short < 0:
        for k in sorted(values, key=lambda k: (values[k] - floors[k], k))[:-short]:
            floors[k] -= 1
    return floors


def margin_game(
    partners: list[str],
    user_micro: float,
    energy_tou_micro: float,
    energy_ref_micro: float,
    fees_micro: float,
    sold_share_without_automaker: float,
) -> dict[str, float]:
    """Shapley values of the road's margin among its partners.

    The worth of a coalition S is 0 without the road operator (no road) and otherwise
    ``f(S) · (user − energy(S) − fees)`` where ``energy(S)`` is at the retailer's partnership
    (time-of-use) price if the retailer is in S and at the reference price if not, and ``f(S)``
    is 1 with the automaker and ``sold_share_without_automaker`` without it. A partner not
    listed is not a player and its lever is always on. The grand coalition's worth is the
    actual margin, so the values add up to it.
    """

    def worth(s: frozenset[str]) -> float:
        if "road_operator" not in s:
            return 0.0
        energy = (
            energy_tou_micro
            if ("retailer" in s or "retailer" not in partners)
            else (energy_ref_micro)
        )
        sold = (
            1.0
            if ("automaker" in s or "automaker" not in partners)
            else (sold_share_without_automaker)
        )
        return sold * (user_micro - energy - fees_micro)

    return shapley_values(partners, worth)


def settle_period(
    period: int,
    records: npt.NDArray[np.void],
    retail_price_per_kwh: npt.NDArray[np.float64],
    user_price_per_kwh: npt.NDArray[np.float64],
    tariffs: list[dict[str, Any]],
    rules: SettlementSpec,
    reference_price_per_kwh: float,
    currency: str,
) -> PeriodSettlement:
    """Statements of every party for one period, priced as the run's KPIs price them.

    - vehicle owners pay the road operator the user price per kWh into their battery
      (``charging``); the road operator refunds them the user price of every kWh their battery
      returns (``V2G refund``) and pays the V2G payment on it (``V2G payment``);
    - the road operator pays for what each connection's meter imported at the grid price of
      its step: the network fee of the tariff table to the grid operator (``network fee``),
      the rest to the retailer (``energy``); the retailer pays the export price for what the
      meter exported (``export``); the owner of the local plants is paid
      ``rules.ppa_price_per_kwh`` per kWh they delivered (``local renewables``);
    - the road operator's margin is shared among the partners: by fixed shares, by the
      Shapley values of :func:`margin_game`, or by the computed shares a coalition study
      measured from runs (``rules.computed_shares``).

    Parameters
    ----------
    period : int [unix s]
        Start of the period.
    records : structured ndarray of RECORD_DTYPE
        The period's records: vehicles' passes and connections' meter readings.
    retail_price_per_kwh, user_price_per_kwh : ndarray [currency/kWh]
        Grid price and user price in force at each record's metering time.
    tariffs : list of dict
        The ledger's tariff table: ``export_price_per_kwh``, ``v2g_payment_per_kwh`` and
        ``network_fee_per_kwh`` each.
    rules : SettlementSpec
    reference_price_per_kwh : float [currency/kWh]
        Price without the retailer's partnership (Shapley game only).
    currency : str
    """
    tariff = np.asarray(records["tariff"], dtype=np.int64)

    def table(key: str) -> npt.NDArray[np.float64]:
        return np.array([float(t[key]) for t in tariffs])[tariff]

    export_price, v2g_pay = table("export_price_per_kwh"), table("v2g_payment_per_kwh")
    fee_price = table("network_fee_per_kwh")
    batt = np.asarray(records["battery_mwh"], dtype=np.int64)
    grid = np.asarray(records["grid_mwh"], dtype=np.int64)
    direction = np.asarray(records["direction"])
    charge, v2g = direction == Direction.charge, direction == Direction.v2g
    imp, exp = direction == Direction.grid_import, direction == Direction.grid_export
    ren = direction == Direction.renewable
    uniq, owner_index = np.unique(records["pseudonym"], return_inverse=True)
    owner_index = np.ravel(owner_index)
    owner_names = [bytes(p).hex() for p in uniq]
    names = rules.parties.model_dump()
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def transfer(payer: str, payee: str, item: str, energy_mwh: int, amount: int) -> None:
        lines[payer].append(
            {"item": item, "counterparty": payee, "energy_mwh": energy_mwh, "amount_micro": -amount}
        )
        lines[payee].append(
            {"item": item, "counterparty": payer, "energy_mwh": energy_mwh, "amount_micro": amount}
        )

    def by_owner(mask: npt.NDArray[np.bool_], values: npt.NDArray[np.int64]) -> dict[str, int]:
        total = np.zeros(len(owner_names), dtype=np.int64)
        np.add.at(total, owner_index[mask], values[mask])
        present = np.zeros(len(owner_names), dtype=bool)
        present[owner_index[mask]] = True
        return {owner_names[i]: int(total[i]) for i in np.flatnonzero(present).tolist()}

    def micro(mask: npt.NDArray[np.bool_], mwh: npt.NDArray[np.int64], price: Any) -> Any:
        return np.where(mask, np.rint(mwh * price), 0).astype(np.int64)

    # vehicles: charging at the user price; V2G refunded at it, with the V2G payment
    user_micro = micro(charge, batt, user_price_per_kwh)
    e_batt, e_user = by_owner(charge, batt), by_owner(charge, user_micro)
    for o in sorted(e_user):
        transfer(f"vehicle:{o}", "road_operator", "charging", e_batt[o], e_user[o])
    refund_micro = micro(v2g, -batt, user_price_per_kwh)
    pay_micro = micro(v2g, -batt, v2g_pay)
    if v2g.any():
        out_batt = by_owner(v2g, -batt)
        refund, pay = by_owner(v2g, refund_micro), by_owner(v2g, pay_micro)
        for o in sorted(out_batt):
            transfer("road_operator", f"vehicle:{o}", "V2G refund", out_batt[o], refund[o])
            if pay[o]:
                transfer("road_operator", f"vehicle:{o}", "V2G payment", out_batt[o], pay[o])

    # the connections' meters: import at the grid price (the network's part to the grid
    # operator), export at the export price, the local plants at their price
    imported = int(grid[imp].sum())
    energy_micro = int(micro(imp, grid, retail_price_per_kwh).sum())
    fees = int(micro(imp, grid, fee_price).sum())
    if imported:
        transfer("road_operator", "retailer", "energy", imported, energy_micro - fees)
        if fees:
            transfer("road_operator", "grid_operator", "network fee", imported, fees)
    exported = int(-grid[exp].sum())
    export_income = int(micro(exp, -grid, export_price).sum())
    if exported:
        transfer("retailer", "road_operator", "export", exported, export_income)
    delivered = int(grid[ren].sum())
    ppa = int(micro(ren, grid, rules.ppa_price_per_kwh).sum())
    if ppa:
        transfer("road_operator", "renewable_owner", "local renewables", delivered, ppa)

    # the margin, shared among partners
    revenue = int(user_micro.sum())
    others = ppa + int(refund_micro.sum()) + int(pay_micro.sum()) - export_income
    margin = revenue - energy_micro - others
    partners = list(rules.partners)
    if rules.benefit_sharing in ("fixed", "computed"):
        given = rules.computed_shares if rules.benefit_sharing == "computed" else rules.shares
        shares: dict[str, float] = {str(k): v for k, v in (given or {}).items()}
        raw = {p: shares[p] * margin for p in partners}
    else:
        raw = margin_game(
            partners, float(revenue), float(energy_micro),
            float(np.rint(grid[imp] * reference_price_per_kwh).sum()), float(others),
            rules.sold_share_without_automaker,
        )  # fmt: skip
    alloc = _largest_remainder(raw, margin)
    for p in partners:
        if p != "road_operator":
            transfer("road_operator", p, f"margin share ({rules.benefit_sharing})", 0, alloc[p])

    result = PeriodSettlement(period)
    for party in sorted(lines):
        role = "vehicle_owner" if party.startswith("vehicle:") else party
        result.statements[party] = {
            "period": period, "party": party, "role": role,
            "name": names.get(party, "pseudonymous owner"), "currency": currency,
            "lines": lines[party], "total_micro": sum(x["amount_micro"] for x in lines[party]),
        }  # fmt: skip
    return result


def check_balance(settlement: PeriodSettlement, records: npt.NDArray[np.void]) -> str | None:
    """None if money sums to zero and statement energy equals metered energy, else the reason."""
    st = settlement.statements
    total = sum(s["total_micro"] for s in st.values())
    if total != 0:
        return f"period {settlement.period}: statements sum to {total} micro-units, not 0"
    charge = np.asarray(records["direction"]) == Direction.charge
    batt = np.asarray(records["battery_mwh"], dtype=np.int64)
    grid = np.asarray(records["grid_mwh"], dtype=np.int64)
    owners_in = sum(
        x["energy_mwh"] for k, s in st.items() if k.startswith("vehicle:")
        for x in s["lines"] if x["item"] == "charging"
    )  # fmt: skip
    if owners_in != int(batt[charge].sum()):
        return (
            f"period {settlement.period}: owners' statements hold {owners_in} mWh charged, "
            f"meters {int(batt[charge].sum())} mWh"
        )
    bought = sum(
        x["energy_mwh"] for x in st.get("road_operator", {"lines": []})["lines"]
        if x["item"] == "energy"
    )  # fmt: skip
    imported = int(grid[np.asarray(records["direction"]) == Direction.grid_import].sum())
    if bought != imported:
        return (
            f"period {settlement.period}: road operator bought {bought} mWh, the connections' "
            f"meters imported {imported} mWh"
        )
    owners_out = sum(
        x["energy_mwh"] for k, s in st.items() if k.startswith("vehicle:")
        for x in s["lines"] if x["item"] == "V2G refund"
    )  # fmt: skip
    v2g = np.asarray(records["direction"]) == Direction.v2g
    if owners_out != int(-batt[v2g].sum()):
        return f"period {settlement.period}: V2G energy in statements differs from the meters"
    return None


def item_totals(statements: list[dict[str, Any]]) -> dict[str, float]:
    """Money paid per line item over statements [currency]: each transfer counted once, on
    its payee's side (``charging``, ``energy``, ``network fee``, ``export``, ``V2G refund``,
    ``V2G payment``, ``local renewables``, ``margin share (...)``)."""
    total: dict[str, int] = defaultdict(int)
    for st in statements:
        for line in st["lines"]:
            if line["amount_micro"] > 0:
                total[line["item"]] += int(line["amount_micro"])
    return {item: micro / MICRO for item, micro in sorted(total.items())}
