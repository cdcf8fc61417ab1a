"""Profit sharing from coalition runs: the game-theory rules by hand, and worths from runs."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ersgrid.cli import app
from ersgrid.errors import ScenarioError
from ersgrid.ledger.least_core import check_core, least_core, nucleolus
from ersgrid.ledger.records import RECORD_DTYPE, Direction, as_pseudonyms
from ersgrid.ledger.settlement import settle_period
from ersgrid.ledger.shapley import sampled_shapley_values, shapley_values
from ersgrid.results import write_results
from ersgrid.results.economics import read_statements
from ersgrid.run.runner import run
from ersgrid.scenario.energy import RenewablesSpec
from ersgrid.scenario.loader import load_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.scenario.settlement import SettlementSpec
from ersgrid.study.coalitions import (
    PLAYERS,
    CoalitionStudy,
    allocate,
    coalition_scenario,
    game_players,
    run_coalitions,
    with_computed_shares,
)

DAYS = 0.125
"""Three hours of tiny: every coalition's run takes about a second."""

# road operator r, retailer t, automaker a: the road alone earns 10, with the retailer's
# tariff 30, with the automaker's receivers 40, all three 70
HAND = {"r": 10.0, "rt": 30.0, "ra": 40.0, "rta": 70.0}


def hand_worth(s: frozenset[str]) -> float:
    key = "".join(p for p in "rta" if p in s)
    return HAND.get(key, 0.0)


def glove(s: frozenset[str]) -> float:
    """One left glove (a), two right ones (b, c): a pair is worth 1."""
    return 1.0 if "a" in s and ("b" in s or "c" in s) else 0.0


def majority(s: frozenset[str]) -> float:
    """Any two of three win 1: the core is empty."""
    return 1.0 if len(s) >= 2 else 0.0


def test_shapley_by_hand() -> None:
    # the six join orders' marginal contributions, averaged:
    # r: (10 + 10 + 30 + 70 + 40 + 70) / 6, t: (20 + 30 + 0 + 0 + 30 + 0) / 6,
    # a: (40 + 30 + 40 + 0 + 0 + 0) / 6
    values = shapley_values(["r", "t", "a"], hand_worth)
    assert values == pytest.approx({"r": 230 / 6, "t": 80 / 6, "a": 110 / 6})
    assert sum(values.values()) == pytest.approx(70.0)
    assert check_core(["r", "t", "a"], hand_worth, values).in_core


def test_nucleolus_and_least_core_by_hand() -> None:
    # excesses 10 - r, -t, -a, a - 40 (rt), t - 30 (ra), r - 70 (ta): the retailer's pair
    # (-t, t - 30) binds first at -15 (t = 15), then the automaker's at -20 (a = 20), r = 35
    assert nucleolus(["r", "t", "a"], hand_worth) == pytest.approx({"r": 35, "t": 15, "a": 20})
    lc = least_core(["r", "t", "a"], hand_worth)
    assert lc.epsilon == pytest.approx(-15.0)
    assert not lc.core_empty
    assert sum(lc.allocation.values()) == pytest.approx(70.0)
    assert check_core(["r", "t", "a"], hand_worth, lc.allocation).in_core


def test_least_core_of_an_empty_core() -> None:
    lc = least_core(["a", "b", "c"], majority)
    assert lc.epsilon == pytest.approx(1 / 3)
    assert lc.core_empty
    assert lc.allocation == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    check = check_core(["a", "b", "c"], majority, lc.allocation)
    assert not check.in_core
    assert check.max_excess == pytest.approx(1 / 3)
    assert check.individually_rational


def test_core_flags() -> None:
    players = ["a", "b", "c"]
    # the glove game's core is the single point where the left glove takes all
    assert check_core(players, glove, {"a": 1.0, "b": 0.0, "c": 0.0}).in_core
    assert nucleolus(players, glove) == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0})
    sh = shapley_values(players, glove)
    assert sh == pytest.approx({"a": 2 / 3, "b": 1 / 6, "c": 1 / 6})
    check = check_core(players, glove, sh)
    assert not check.in_core
    assert check.individually_rational
    assert check.max_excess == pytest.approx(1 / 6)
    assert check.worst_coalition in (("a", "b"), ("a", "c"))
    # not efficient: outside the core although no coalition lacks anything
    assert not check_core(players, glove, {"a": 1.0, "b": 0.5, "c": 0.0}).in_core
    # below a stand-alone worth: not individually rational
    bad = check_core(["r", "t", "a"], hand_worth, {"r": 5.0, "t": 40.0, "a": 25.0})
    assert not bad.individually_rational
    assert not bad.in_core


def _games() -> st.SearchStrategy[tuple[list[str], dict[frozenset[str], float]]]:
    def build(n: int, values: list[int]) -> tuple[list[str], dict[frozenset[str], float]]:
        names = [f"p{i}" for i in range(n)]
        subsets = [frozenset(c) for k in range(1, n + 1) for c in itertools.combinations(names, k)]
        worths = {frozenset(): 0.0} | {s: float(v) for s, v in zip(subsets, values, strict=False)}
        return names, worths

    return st.integers(2, 5).flatmap(
        lambda n: st.lists(st.integers(-50, 100), min_size=2**n - 1, max_size=2**n - 1).map(
            lambda v: build(n, v)
        )
    )


@settings(max_examples=40, deadline=None)
@given(game=_games(), seed=st.integers(0, 2**16))
def test_rules_on_random_games(
    game: tuple[list[str], dict[frozenset[str], float]], seed: int
) -> None:
    names, worths = game
    grand = worths[frozenset(names)]
    exact = shapley_values(names, worths.__getitem__)
    assert sum(exact.values()) == pytest.approx(grand, abs=1e-9)
    est = sampled_shapley_values(names, worths.__getitem__, samples=400, seed=seed)
    assert sum(est.values.values()) == pytest.approx(grand, abs=1e-9)
    for p in names:  # within five standard errors (a failure has odds below 1e-5 a player)
        assert abs(est.values[p] - exact[p]) <= 5.0 * est.std_errors[p] + 1e-9
    lc = least_core(names, worths.__getitem__)
    nu = nucleolus(names, worths.__getitem__)
    check = check_core(names, worths.__getitem__, nu)
    assert sum(nu.values()) == pytest.approx(grand, abs=1e-6)
    # the nucleolus minimises the largest excess: it is the least core's epsilon
    assert check.max_excess == pytest.approx(lc.epsilon, abs=1e-6)
    assert check.in_core == (not lc.core_empty)


def test_allocate_lists_every_rule() -> None:
    allocs = allocate(["r", "t", "a"], hand_worth, weights={"r": 1.0, "t": 0.0, "a": 3.0})
    by_rule = {a.rule: a for a in allocs}
    assert list(by_rule) == [
        "shapley", "shapley_sampled", "nucleolus", "least_core", "proportional_assets",
    ]  # fmt: skip
    prop = by_rule["proportional_assets"]
    assert prop.amounts == pytest.approx({"r": 17.5, "t": 0.0, "a": 52.5})
    # road operator and retailer get 17.5 together, less than the 30 they earn alone
    assert not prop.check.in_core
    assert prop.check.individually_rational
    assert prop.check.worst_coalition == ("r", "t")
    assert prop.check.max_excess == pytest.approx(12.5)
    assert by_rule["least_core"].epsilon == pytest.approx(-15.0)
    shares = by_rule["shapley"].shares()
    assert shares is not None
    assert sum(shares.values()) == pytest.approx(1.0)
    assert allocate(["r"], lambda s: -5.0 if s else 0.0, samples=0)[0].shares() is None


def _records() -> np.ndarray:
    """One owner charging 1 kWh, one connection importing 2 kWh."""
    rec = np.zeros(2, dtype=RECORD_DTYPE)
    rec["version"] = 1
    rec["period"] = 0
    rec["pseudonym"] = as_pseudonyms([b"\x01" * 16, b"\x02" * 16])
    rec["battery_mwh"] = [1_000_000, 0]
    rec["grid_mwh"] = [1_100_000, 2_000_000]
    rec["direction"] = [Direction.charge, Direction.grid_import]
    return rec


def test_settlement_by_computed_shares() -> None:
    shares = {"road_operator": 0.5, "retailer": 0.2, "renewable_owner": 0.1, "automaker": 0.2}
    rules = SettlementSpec(benefit_sharing="computed", computed_shares=shares)
    assert rules.partners == ("automaker", "renewable_owner", "retailer", "road_operator")
    tariffs = [{"export_price_per_kwh": 0.0, "v2g_payment_per_kwh": 0.0,
                "network_fee_per_kwh": 0.0}]  # fmt: skip
    # revenue 1 kWh × 60 = 60, energy 2 kWh × 20 = 40: the margin is 20 (20,000,000 micro)
    result = settle_period(
        0, _records(), np.full(2, 20.0), np.full(2, 60.0), tariffs, rules, 30.0, "JPY"
    )
    paid = {
        line["counterparty"]: line["amount_micro"]
        for line in result.statements["road_operator"]["lines"]
        if line["item"] == "margin share (computed)"
    }
    assert paid == {"retailer": -4_000_000, "renewable_owner": -2_000_000, "automaker": -4_000_000}


def test_computed_shares_are_checked(tiny: Scenario) -> None:
    with pytest.raises(ValueError, match="computed_shares"):
        SettlementSpec(benefit_sharing="computed")
    with pytest.raises(ValueError, match="sum to 1"):
        SettlementSpec(benefit_sharing="computed", computed_shares={"road_operator": 0.9})
    with pytest.raises(ValueError, match="only with benefit_sharing"):
        SettlementSpec(computed_shares={"road_operator": 1.0})
    with pytest.raises(ScenarioError, match="road_operator"):
        with_computed_shares(tiny, {"retailer": 1.0})
    # a share beyond 0..1 is allowed: a partner's worth may be negative
    sc = with_computed_shares(tiny, {"road_operator": 1.2, "retailer": -0.2})
    assert sc.settlement.benefit_sharing == "computed"
    assert sc.settlement.partners == ("retailer", "road_operator")


def test_variants_switch_off_what_a_partner_brings(tiny: Scenario) -> None:
    alone = coalition_scenario(tiny, ["road_operator"], 25.0)
    assert alone.storage is None
    assert alone.renewables == RenewablesSpec()
    assert alone.tariff.windows == []
    assert alone.tariff.base_price_per_kwh == 25.0
    assert all(v.v2g_share == 0.0 for v in alone.vehicles.values())
    sold = tiny.settlement.sold_share_without_automaker
    for name, v in alone.vehicles.items():
        assert v.receiver_share == pytest.approx(tiny.vehicles[name].receiver_share * sold)
    assert coalition_scenario(tiny, PLAYERS, 25.0) == tiny
    assert game_players(tiny, 25.0) == list(PLAYERS)
    # without storage and plants there is no storage and PV owner; with a flat tariff at the
    # reference price, no retailer
    bare = alone.model_copy(update={"vehicles": tiny.vehicles})
    assert game_players(bare, 25.0) == ["road_operator", "automaker"]
    with pytest.raises(ValueError, match="road operator"):
        coalition_scenario(tiny, ["retailer"], 25.0)


@pytest.fixture(scope="module")
def tiny_study() -> CoalitionStudy:
    seen: list[tuple[int, int]] = []
    study = run_coalitions(
        load_scenario("tiny"), days=DAYS, progress=lambda d, t, _: seen.append((d, t))
    )
    assert seen == [(k, 8) for k in range(1, 9)]
    return study


def test_worths_come_from_runs(tiny_study: CoalitionStudy) -> None:
    sc = load_scenario("tiny")
    assert tiny_study.players == list(PLAYERS)
    assert len(tiny_study.runs) == 8
    # the road operator alone, built by hand: no storage, no plants, no V2G, half the
    # receivers, and the flat price at the mean of the grand coalition's price series
    full = run(sc, days=DAYS)
    flat = float(full.timeseries["price_per_kwh"].mean())
    assert tiny_study.reference_price_per_kwh == pytest.approx(flat)
    vehicles = {
        k: v.model_copy(update={"v2g_share": 0.0, "receiver_share": v.receiver_share * 0.5})
        for k, v in sc.vehicles.items()
    }
    alone = sc.model_copy(
        update={
            "storage": None, "renewables": RenewablesSpec(), "vehicles": vehicles,
            "tariff": sc.tariff.model_copy(update={"windows": [], "base_price_per_kwh": flat}),
        }
    )  # fmt: skip
    assert tiny_study.worth(frozenset(["road_operator"])) == run(alone, days=DAYS).kpis["margin"]
    grand = frozenset(PLAYERS)
    assert tiny_study.worth(grand) == full.kpis["margin"]
    assert tiny_study.worth(frozenset(["retailer", "automaker"])) == 0.0
    for a in tiny_study.allocations:
        assert sum(a.amounts.values()) == pytest.approx(full.kpis["margin"], rel=1e-6)
    # the automaker's receivers sell energy: the road sells less without them
    energy = {frozenset(r.members): r.kpis["energy_delivered_kwh"] for r in tiny_study.runs}
    assert energy[grand] > energy[grand - {"automaker"}]


def test_the_ledger_settles_by_the_study_shares(tiny_study: CoalitionStudy, tmp_path: Path) -> None:
    shares = tiny_study.allocation("shapley").shares()
    assert shares is not None
    sc = with_computed_shares(load_scenario("tiny"), shares)
    result = run(sc, days=DAYS)
    folder = write_results(result, tmp_path / "r")
    k = result.kpis
    assert k["settlement_balanced"] is True
    got: dict[str, float] = {}
    for st_ in read_statements(folder):
        for line in st_["lines"]:
            if line["item"] == "margin share (computed)" and st_["party"] in shares:
                got[st_["party"]] = got.get(st_["party"], 0.0) + line["amount_micro"] / 1e6
    # the ledger's margin is the KPI's without the (unsettled) value the batteries gained
    settled = k["margin"] - k["stored_energy_value"]
    for p in shares:
        if p != "road_operator":
            assert got.get(p, 0.0) == pytest.approx(shares[p] * settled, abs=1.0), p


def test_cli_coalitions(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "c"
    args = ["coalitions", "tiny", "--days", str(DAYS), "--out", str(out), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads((out / "coalitions.json").read_text())
    assert len(data["coalitions"]) == 8
    rules = {a["rule"]: a for a in data["allocations"]}
    assert set(rules) >= {"shapley", "shapley_sampled", "nucleolus", "least_core"}
    grand = next(c for c in data["coalitions"] if len(c["members"]) == 4)
    assert sum(rules["shapley"]["amounts"].values()) == pytest.approx(grand["worth"])
    if data["settlement"] is not None:
        shares = data["settlement"]["computed_shares"]
        assert math.isclose(sum(shares.values()), 1.0)
        sc = with_computed_shares(load_scenario("tiny"), shares)
        assert sc.settlement.benefit_sharing == "computed"
    assert json.loads(res.stdout)["written"] == str(out / "coalitions.json")


@pytest.mark.parametrize(
    "args",
    [["nowhere"], ["tiny", "--rule", "fair"], ["tiny", "--strategy", "magic"],
     ["tiny", "--days", "0"]],
)  # fmt: skip
def test_cli_coalitions_bad_input(args: list[str], tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["coalitions", *args, "--out", str(tmp_path), "--quiet"])
    assert res.exit_code == 2, res.output
    assert not (tmp_path / "coalitions.json").exists()
