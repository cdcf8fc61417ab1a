"""Settlement: money balances and energy matches the meters on random inputs; Shapley by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ersgrid.ledger.records import RECORD_DTYPE, Direction, as_pseudonyms
from ersgrid.ledger.settlement import check_balance, margin_game, settle_period
from ersgrid.ledger.shapley import shapley_values
from ersgrid.scenario.settlement import SettlementSpec

PERIOD = 2_059_052_400


def _records(rng: np.random.Generator, n: int, owners: int, v2g_share: float) -> np.ndarray:
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["version"] = 1
    rec["seq"] = np.arange(n)
    rec["unit"] = rng.integers(0, 30, n)
    # every fourth name ends in a zero byte: pseudonyms are raw bytes, not C strings
    names = [rng.bytes(15) + (b"\x00" if i % 4 == 0 else b"\x01") for i in range(owners)]
    rec["pseudonym"] = as_pseudonyms(names)[rng.integers(0, owners, n)]
    rec["period"] = PERIOD
    rec["end_ms"] = PERIOD * 1000 + rng.integers(0, 3_600_000, n)
    batt = rng.integers(1, 2_000_000, n)
    eff = rng.uniform(0.6, 0.98, n)
    v2g = rng.random(n) < v2g_share
    grid = np.where(v2g, -np.rint(batt * eff), np.rint(batt / eff)).astype(np.int64)
    rec["battery_mwh"] = np.where(v2g, -batt, batt)
    rec["grid_mwh"] = grid
    rec["direction"] = np.where(v2g, Direction.v2g, Direction.charge)
    return np.concatenate([rec, _meters(rng, n)])


def _meters(rng: np.random.Generator, n: int) -> np.ndarray:
    """Connection-meter records of the period: imports, exports and delivered renewables."""
    m = max(1, n // 8)
    rec = np.zeros(3 * m, dtype=RECORD_DTYPE)
    rec["version"] = 1
    rec["unit"] = 30 + rng.integers(0, 3, 3 * m)
    rec["period"] = PERIOD
    rec["end_ms"] = PERIOD * 1000 + rng.integers(0, 3_600_000, 3 * m)
    energy = rng.integers(1, 2_000_000, 3 * m)  # as much per reading as a pass, at most
    kind = np.repeat([Direction.grid_import, Direction.grid_export, Direction.renewable], m)
    rec["grid_mwh"] = np.where(kind == Direction.grid_export, -energy, energy)
    rec["direction"] = kind
    return rec


def _tariffs(export_price: float, v2g_pay: float = 0.0, fee: float = 0.0) -> list[dict]:
    return [{"export_price_per_kwh": export_price, "v2g_payment_per_kwh": v2g_pay,
             "network_fee_per_kwh": fee}]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    owners=st.integers(1, 40),
    v2g_share=st.sampled_from([0.0, 0.1, 0.5]),
    sharing=st.sampled_from(["fixed", "shapley"]),
    fee=st.floats(0.0, 5.0),
    v2g_pay=st.floats(0.0, 40.0),
    ppa=st.floats(0.0, 20.0),
    user_price=st.floats(0.0, 100.0),
    export_price=st.floats(0.0, 30.0),
    partners=st.sampled_from([("road_operator",), ("road_operator", "retailer"),
                              ("road_operator", "retailer", "automaker")]),
)  # fmt: skip
def test_settlement_balances(
    seed: int, n: int, owners: int, v2g_share: float, sharing: str, fee: float,
    v2g_pay: float, ppa: float, user_price: float, export_price: float,
    partners: tuple[str, ...],
) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    rec = _records(rng, n, owners, v2g_share)
    shares = dict(zip(partners, np.full(len(partners), 1.0 / len(partners)), strict=True))
    shares["road_operator"] += 1.0 - sum(shares.values())
    rules = SettlementSpec(ppa_price_per_kwh=ppa, benefit_sharing=sharing, shares=shares)
    prices = rng.uniform(5.0, 60.0, len(rec))
    users = np.full(len(rec), user_price)
    tariffs = _tariffs(export_price, v2g_pay, fee)
    result = settle_period(PERIOD, rec, prices, users, tariffs, rules, 70.0, "JPY")
    assert check_balance(result, rec) is None
    statements = result.statements.values()
    # money: zero sum, and each statement's total is the sum of its lines
    assert sum(s["total_micro"] for s in statements) == 0
    assert all(s["total_micro"] == sum(x["amount_micro"] for x in s["lines"]) for s in statements)
    # energy: owners' lines hold exactly the metered battery energy, both directions, and the
    # road operator bought exactly what the connections' meters imported
    charge = rec["direction"] == Direction.charge
    v2g = rec["direction"] == Direction.v2g
    charged = sum(
        x["energy_mwh"] for s in statements if s["role"] == "vehicle_owner"
        for x in s["lines"] if x["item"] == "charging"
    )  # fmt: skip
    returned = sum(
        x["energy_mwh"] for s in statements if s["role"] == "vehicle_owner"
        for x in s["lines"] if x["item"] == "V2G refund"
    )  # fmt: skip
    assert charged == int(rec["battery_mwh"][charge].sum())
    assert returned == -int(rec["battery_mwh"][v2g].sum())
    bought = sum(x["energy_mwh"] for x in result.statements["road_operator"]["lines"]
                 if x["item"] == "energy")  # fmt: skip
    assert bought == int(rec["grid_mwh"][rec["direction"] == Direction.grid_import].sum())
    # an owner pays exactly its energy at the user price (to a micro-unit per record)
    some = next(s for s in statements if s["role"] == "vehicle_owner")
    mine = rec[[bytes(p).hex() == some["party"][8:] for p in rec["pseudonym"]] & charge]
    paid = -sum(x["amount_micro"] for x in some["lines"] if x["item"] == "charging")
    assert abs(paid - int(mine["battery_mwh"].sum()) * user_price) <= len(mine) + 1


def test_unbalanced_statement_is_detected() -> None:
    rng = np.random.default_rng(1)
    rec = _records(rng, 50, 5, 0.2)
    rules = SettlementSpec()
    flat = np.full(len(rec), 30.0)
    result = settle_period(
        PERIOD, rec, flat, flat + 20.0, _tariffs(8.0, fee=3.0), rules, 40.0, "JPY"
    )
    result.statements["retailer"]["total_micro"] += 1
    assert "sum to 1 micro-units" in (check_balance(result, rec) or "")


def test_shapley_three_party_case_by_hand() -> None:
    """road R, retailer T, automaker A; user 100, energy 40 (TOU) or 60 (reference), fees 10,
    half the energy sold without A. v(R)=15, v(RT)=25, v(RA)=30, v(RTA)=50, else 0.
    Over the 6 join orders R's marginal contributions are 15,15,25,30,50,50 → 185/6;
    T's 0,0,10,0,20,20 → 50/6; A's 0,0,15,0,25,25 → 65/6."""
    values = margin_game(["automaker", "retailer", "road_operator"], 100.0, 40.0, 60.0, 10.0, 0.5)
    assert values["road_operator"] == pytest.approx(185 / 6)
    assert values["retailer"] == pytest.approx(50 / 6)
    assert values["automaker"] == pytest.approx(65 / 6)
    assert sum(values.values()) == pytest.approx(50.0)


def test_shapley_glove_game() -> None:
    """One left glove (L), two right gloves (R1, R2): L gets 2/3, each right glove 1/6."""

    def worth(s: frozenset[str]) -> float:
        return float("L" in s and ("R1" in s or "R2" in s))

    values = shapley_values(["L", "R1", "R2"], worth)
    assert values == pytest.approx({"L": 2 / 3, "R1": 1 / 6, "R2": 1 / 6})


def test_shapley_sharing_in_settlement_uses_the_game() -> None:
    rng = np.random.default_rng(3)
    rec = _records(rng, 200, 10, 0.0)
    rules = SettlementSpec(
        benefit_sharing="shapley",
        shares={"road_operator": 0.0, "retailer": 0.0, "automaker": 0.0},
        sold_share_without_automaker=0.5,
    )
    flat = np.full(len(rec), 20.0)
    result = settle_period(PERIOD, rec, flat, flat * 3.0, _tariffs(0.0), rules, 35.0, "EUR")
    got = {
        p: next(x["amount_micro"] for x in result.statements[p]["lines"] if "margin" in x["item"])
        for p in ("retailer", "automaker")
    }
    assert got["retailer"] > 0
    assert got["automaker"] > 0
    assert check_balance(result, rec) is None


def test_settlement_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="must include road_operator"):
        SettlementSpec(shares={"retailer": 1.0})
    with pytest.raises(ValueError, match="must sum to 1"):
        SettlementSpec(shares={"road_operator": 0.5, "retailer": 0.2})


def test_hourly_periods_follow_the_local_clock_through_dst() -> None:
    """The repeated 01:00 hour when New York leaves daylight saving time is two periods."""
    import pandas as pd

    from ersgrid.ledger.run_ledger import period_starts

    idx = pd.date_range("2035-11-04 00:00", periods=16, freq="15min", tz="America/New_York")
    starts = period_starts(idx, "hour")
    assert len(set(starts.tolist())) == 4
    assert np.all(np.diff(starts) % 3600 == 0)
    assert np.all((idx.asi8 // 10**9 - starts) < 3600)
    day = period_starts(idx, "day")
    assert set(day.tolist()) == {
        int(pd.Timestamp("2035-11-04", tz="America/New_York").value // 10**9)
    }


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    v2g_every=st.integers(3, 20),
    sharing=st.sampled_from(["fixed", "shapley"]),
    period=st.sampled_from(["hour", "day"]),
)
def test_randomised_runs_settle_balanced(
    seed: int, v2g_every: int, sharing: str, period: str
) -> None:
    """Twin runs of ``tiny`` with random seeds (plus V2G passes): every period balances and the
    statements' energy equals the twin's meters."""
    from ersgrid.ledger.records import MWH_PER_KWH
    from ersgrid.ledger.run_ledger import (
        ConnectionMeters,
        records_from_meters,
        records_from_passes,
    )
    from ersgrid.ledger.writer import PriceTable
    from ersgrid.run.runner import run
    from ersgrid.scenario.loader import load_scenario

    sc = load_scenario("tiny")
    res = run(sc, days=0.25, seed=seed)
    passes = res.passes
    v2g = passes.iloc[::v2g_every].copy()
    v2g[["battery_kwh", "grid_kwh"]] *= -0.5
    import pandas as pd

    passes = pd.concat([passes, v2g], ignore_index=True)
    index = pd.DatetimeIndex(res.timeseries.index)
    rec = records_from_passes(passes, index, sc.simulation.twin_step_s, period, b"k" * 32, "r")
    h = res.world.step_h
    meters = ConnectionMeters(
        res.import_kw * h, res.export_kw * h, (res.energy.renewable_kw - res.curtailed_kw) * h
    )
    rec = np.concatenate([rec, records_from_meters(meters, index, period, res.world.layout)])
    rules = SettlementSpec(
        period=period, ppa_price_per_kwh=3.0, benefit_sharing=sharing,
        shares={"road_operator": 0.6, "retailer": 0.3, "automaker": 0.1},
    )  # fmt: skip
    t0 = int(index[0].value // 1_000_000)
    prices = PriceTable(t0, 900_000, res.world.price_per_kwh.tolist())
    users = PriceTable(t0, 900_000, res.world.user_price_per_kwh.tolist())
    tariffs = _tariffs(9.0, 25.0, 5.0)
    charged = returned = 0
    for p in np.unique(rec["period"]).tolist():
        part = rec[rec["period"] == p]
        result = settle_period(
            p, part, prices.at(part["end_ms"]), users.at(part["end_ms"]), tariffs, rules, 45.0,
            "JPY",
        )  # fmt: skip
        assert check_balance(result, part) is None
        for s in result.statements.values():
            for x in s["lines"]:
                if s["role"] == "vehicle_owner" and x["item"] == "charging":
                    charged += x["energy_mwh"]
                if s["role"] == "vehicle_owner" and x["item"] == "V2G refund":
                    returned += x["energy_mwh"]
    metered = passes["battery_kwh"].to_numpy() * MWH_PER_KWH
    assert abs(charged - metered[metered > 0].sum()) <= 0.5 * len(passes)
    assert abs(returned + metered[metered < 0].sum()) <= 0.5 * len(passes)
    assert charged > 0
