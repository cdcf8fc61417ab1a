"""Economics of a run: the finance formulas against hand computations, the year scaling, and
the invariants that tie the parties' P&L, the road's margin and the LCOE to the run."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ersgrid.cli import app
from ersgrid.errors import ScenarioError
from ersgrid.results.economics import folder_economics
from ersgrid.scenario.loader import parse_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.study.economics import (
    asset_register,
    capital_recovery_factor,
    compute_economics,
    discounted_payback,
    irr,
    npv,
)

runner = CliRunner()


# -- the formulas ----------------------------------------------------------------------


def test_capital_recovery_factor_by_hand() -> None:
    # 5 % over 20 years: 0.05 * 1.05**20 / (1.05**20 - 1), 1.05**20 = 2.6532977
    assert capital_recovery_factor(0.05, 20) == pytest.approx(0.0802425872, rel=1e-9)
    assert capital_recovery_factor(0.0, 8) == pytest.approx(0.125)
    with pytest.raises(ValueError, match="lifetime"):
        capital_recovery_factor(0.05, 0)


def test_npv_irr_payback_of_a_known_cash_flow() -> None:
    flows = [-100.0, 60.0, 60.0]
    # -100 + 60/1.1 + 60/1.21
    assert npv(0.10, flows) == pytest.approx(-100 + 54.545454 + 49.586777, abs=1e-5)
    # 60 x^2 + 60 x - 100 = 0 with x = 1/(1+r): x = (-60 + sqrt(27600)) / 120
    x = (-60 + math.sqrt(27_600)) / 120
    assert irr(flows) == pytest.approx(1 / x - 1, abs=1e-9)
    # undiscounted: -100, -40, +20: pays back 40/60 into year 2
    assert discounted_payback(0.0, flows) == pytest.approx(1 + 40 / 60)
    assert discounted_payback(0.5, flows) is None
    assert discounted_payback(0.0, [5.0, 1.0]) == 0.0


def test_irr_is_none_without_a_sign_change() -> None:
    assert irr([-100.0, -10.0, -10.0]) is None
    assert irr([100.0, 10.0]) is None


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0.0, 0.3), years=st.integers(1, 60))
def test_crf_annuity_repays_the_capital(rate: float, years: int) -> None:
    """A capital of 1 repaid by CRF each year for its life has a present value of 1."""
    crf = capital_recovery_factor(rate, years)
    assert npv(rate, [-1.0] + [crf] * years) == pytest.approx(0.0, abs=1e-9)
    assert crf >= 1.0 / years - 1e-12


@settings(max_examples=60, deadline=None)
@given(
    capex=st.floats(1.0, 1e9),
    annual_share=st.floats(0.01, 2.0),
    years=st.integers(1, 40),
)
def test_irr_zeroes_the_npv(capex: float, annual_share: float, years: int) -> None:
    flows = [-capex] + [capex * annual_share] * years
    rate = irr(flows)
    assert rate is not None  # one outlay, then income: a sign change
    assert npv(rate, flows) == pytest.approx(0.0, abs=1e-6 * capex)
    # NPV falls with the rate: positive below the IRR, negative above
    assert npv(rate - 0.005, flows) > 0 > npv(rate + 0.005, flows)


# -- assets and year scaling on hand-written inputs --------------------------------------


def _scenario(tiny_data: dict[str, Any], **economics: Any) -> Scenario:
    data = copy.deepcopy(tiny_data)
    data["economics"] = {**data.get("economics", {}), **economics}
    return parse_scenario(data, "tiny")


def test_assets_come_from_the_scenario(tiny_data: dict[str, Any]) -> None:
    sc = _scenario(tiny_data, exchange_rate=100.0)
    assets = {a.name: a for a in asset_register(sc)}
    lane_km = sum(s.length_km * len(s.directions) for s in sc.road.sections)
    assert assets["inductive"].quantity == pytest.approx(lane_km)
    assert assets["inductive"].capex == pytest.approx(lane_km * 745_000 * 100.0)
    mw = sum(s.rating_kw for s in sc.substations) / 1000
    assert assets["substations"].capex == pytest.approx(mw * 250_000 * 100.0)
    assert assets["pv"].quantity == pytest.approx(sum(p.peak_kw for p in sc.renewables.pv))
    assert assets["wind"].quantity == pytest.approx(800.0)  # one E-53/800
    life = sc.economics.road
    a = assets["inductive"]
    assert a.annualised == pytest.approx(
        a.capex * capital_recovery_factor(0.05, life.lifetime_years)
        + a.capex * life.om_share_per_year
    )


def test_a_missing_exchange_rate_is_named(tiny_data: dict[str, Any]) -> None:
    tiny_data.pop("economics", None)
    sc = parse_scenario(tiny_data, "tiny")
    with pytest.raises(ScenarioError, match=r"economics\.exchange_rate"):
        asset_register(sc)


def _statement(period: int, party: str, role: str, lines: list[tuple[str, int, int]]) -> Any:
    return {
        "period": period, "party": party, "role": role, "name": party, "currency": "JPY",
        "lines": [
            {"item": i, "counterparty": "x", "energy_mwh": e, "amount_micro": m}
            for i, e, m in lines
        ],
        "total_micro": sum(m for _, _, m in lines),
    }  # fmt: skip


def _two_days() -> tuple[list[Any], dict[str, Any]]:
    """Two days of settlement (JST): 100 kWh sold for 5,000 yen on day 0, 300 kWh for 15,000
    on day 1; energy bought 2,000 and 6,000."""
    day0 = 1_900_000_000 - 1_900_000_000 % 86_400 - 9 * 3600  # a local midnight
    day1 = day0 + 86_400
    out = []
    for period, kwh, sales, bought in ((day0, 100, 5_000, 2_000), (day1, 300, 15_000, 6_000)):
        mwh = kwh * 1_000_000
        out += [
            _statement(period, "vehicle:a", "vehicle_owner", [("charging", mwh, -sales * 10**6)]),
            _statement(period, "road_operator", "road_operator",
                       [("charging", mwh, sales * 10**6), ("energy", mwh, -bought * 10**6)]),
            _statement(period, "retailer", "retailer", [("energy", mwh, bought * 10**6)]),
        ]  # fmt: skip
    kpis = {
        "days": 2.0, "start": "2030-03-17 00:00:00+09:00", "revenue": 20_000.0,
        "export_revenue": 0.0, "import_cost": 8_000.0, "stored_energy_value": 0.0,
        "renewable_purchase": 0.0, "v2g_buyback": 0.0, "v2g_payment": 0.0,
        "v2g_wear_cost": 0.0, "demand_charge": 10.0, "energy_delivered_kwh": 400.0,
    }  # fmt: skip
    return out, kpis


def test_representative_day_weights(tiny_data: dict[str, Any]) -> None:
    statements, kpis = _two_days()
    first = pd.Timestamp(statements[0]["period"], unit="s", tz="UTC").tz_convert("Asia/Tokyo")
    kpis["start"] = str(first.normalize())
    sc = _scenario(
        tiny_data, exchange_rate=150.0, annualise={"days_per_year": 365, "day_weights": [300, 65]}
    )
    econ = compute_economics(sc, kpis, statements)
    assert econ.streams["energy_sales"] == pytest.approx(300 * 5_000 + 65 * 15_000)
    assert econ.streams["grid_energy_bought"] == pytest.approx(300 * 2_000 + 65 * 6_000)
    assert econ.energy_delivered_kwh_per_year == pytest.approx(300 * 100 + 65 * 300)
    assert econ.streams["demand_charge"] == pytest.approx(10.0 * 365 / 2)  # mean weight
    road = econ.parties["road_operator"]
    assert road.lines["charging"] == pytest.approx(econ.streams["energy_sales"])
    # without weights every day counts 365 / 2
    plain = compute_economics(_scenario(tiny_data, exchange_rate=150.0), kpis, statements)
    assert plain.streams["energy_sales"] == pytest.approx(20_000 * 365 / 2)
    with pytest.raises(ScenarioError, match="one weight per whole day"):
        compute_economics(sc, {**kpis, "days": 3.0}, statements)
    with pytest.raises(ScenarioError, match="settlement"):
        compute_economics(sc, kpis, [])


def test_weights_must_sum_to_the_year(tiny_data: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="sum to 300"):
        _scenario(tiny_data, annualise={"day_weights": [200, 100]})


# -- a run, end to end -------------------------------------------------------------------


@pytest.fixture(scope="module")
def partner_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day of ``tiny`` with the margin shared and the receivers carried by the automaker,
    run by the command line."""
    from ersgrid.scenario.loader import _builtin_text

    base = tmp_path_factory.mktemp("econ")
    data = yaml.safe_load(_builtin_text("tiny"))
    data["settlement"] = {"shares": {"road_operator": 0.6, "retailer": 0.25, "automaker": 0.15}}
    data["economics"]["receivers_paid_by"] = "automaker"
    data["tariff"]["demand_charge_per_kw"] = 20.0
    scenario = base / "tiny-partners.yaml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = base / "run"
    result = runner.invoke(app, ["run", str(scenario), "--days", "1", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_economics_cli_reads_the_run(partner_run: Path) -> None:
    written = json.loads((partner_run / "economics.json").read_text(encoding="utf-8"))
    result = runner.invoke(app, ["economics", str(partner_run), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["written"] == str(partner_run / "economics.json")
    for key in ("npv", "lcoe_per_kwh", "annual_operating_margin", "capex"):
        assert printed[key] == pytest.approx(written[key], rel=1e-12)
    kpis = json.loads((partner_run / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["npv"] == pytest.approx(written["npv"], rel=1e-12)  # one truth
    table = runner.invoke(app, ["economics", str(partner_run)])
    assert table.exit_code == 0, table.output
    assert "NPV over 25 a [JPY]" in table.output
    assert "Automaker" in table.output


def test_counterfactuals_read_the_run(partner_run: Path) -> None:
    """The counterfactuals stand on the run's own trips and LCOE, in every face."""
    written = json.loads((partner_run / "economics.json").read_text(encoding="utf-8"))
    cf = written["counterfactuals"]
    trips = pd.read_parquet(partner_run / "trips.parquet")
    assert cf["energy_kwh"] == pytest.approx(float(trips["energy_received_kwh"].sum()))
    km = (trips["exit_km"] - trips["entry_km"]).abs()
    assert cf["vehicle_km"] == pytest.approx(float(km.sum()))
    by_class = {c["vehicle_class"]: c for c in cf["classes"]}
    trucks = trips["vehicle_class"] == "truck"
    assert by_class["truck"]["diesel_l"] == pytest.approx(float(km[trucks].sum()) * 32.0 / 100)
    assert cf["options"]["road"]["cost_per_kwh"] == pytest.approx(written["lcoe_per_kwh"])
    kpis = json.loads((partner_run / "kpis.json").read_text(encoding="utf-8"))
    for name, option in cf["options"].items():
        assert kpis[f"cost_per_kwh_{name}"] == pytest.approx(option["cost_per_kwh"])
        assert kpis[f"co2_kg_per_vkm_{name}"] == pytest.approx(option["co2_kg_per_vehicle_km"])
    assert "Depot, overnight" in (partner_run / "report.html").read_text(encoding="utf-8")
    table = runner.invoke(app, ["economics", str(partner_run)])
    assert table.exit_code == 0, table.output
    assert "Against the counterfactuals" in table.output
    assert "Public fast charging" in table.output


def test_parties_add_up_to_the_road(partner_run: Path) -> None:
    econ = folder_economics(partner_run)
    kpis = json.loads((partner_run / "kpis.json").read_text(encoding="utf-8"))
    scale = 365.0 / kpis["days"]
    tolerance = 2.0 * scale  # statements are rounded per record; the KPIs are not
    # money only moves between parties: the settled lines sum to zero
    assert sum(sum(p.lines.values()) for p in econ.parties.values()) == pytest.approx(0.0, abs=1e-3)
    # the road's partners: the operator's whole result and the others' shares of the margin,
    # less the capital they carry, is the road's margin less its capital
    partners = set(econ.partners)
    assert partners == {"road_operator", "retailer", "automaker"}
    share = 0.0
    for role in partners:
        p = econ.parties[role]
        if role == "road_operator":
            share += p.operating
        else:
            share += sum(v for item, v in p.lines.items() if item.startswith("margin share"))
        share -= p.capital
    assert share == pytest.approx(
        econ.operating_margin - econ.road_annualised_capital, abs=tolerance
    )
    assert econ.parties["automaker"].capital > 0  # it carries the receivers
    assert econ.streams["demand_charge"] == pytest.approx(kpis["demand_charge"] * scale)
    assert econ.operating_margin == pytest.approx(
        (kpis["margin"] - kpis["demand_charge"]) * scale, rel=1e-9
    )
    assert econ.streams["energy_sales"] == pytest.approx(kpis["revenue"] * scale, rel=1e-6)


def test_lcoe_times_energy_is_the_annual_cost(partner_run: Path) -> None:
    econ = folder_economics(partner_run)
    assert econ.lcoe_per_kwh * econ.energy_delivered_kwh_per_year == pytest.approx(
        econ.annual_total_cost, rel=1e-12
    )
    chain = sum(a.annualised for a in econ.assets if a.name not in ("pv", "wind")) + sum(
        a.annualised for a in econ.assets if a.name in ("pv", "wind")
    )  # the plants are the road's own here (no PPA price)
    s = econ.streams
    assert econ.annual_total_cost == pytest.approx(
        chain + s["energy_cost"] + s["renewable_purchase"] + s["demand_charge"], rel=1e-12
    )
    assert econ.npv == pytest.approx(npv(0.05, econ.cash_flows))
    assert econ.cash_flows[0] == pytest.approx(-econ.road_capex)


def test_bad_folders_exit_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["economics", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "not a folder" in missing.output
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["economics", str(tmp_path / "empty")])
    assert empty.exit_code == 2
    assert "no kpis.json" in empty.output
    assert "Traceback" not in empty.output


def test_compare_carries_the_economics(tmp_path: Path) -> None:
    from ersgrid import load_scenario, run
    from ersgrid.cli.runs import kpi_tables
    from ersgrid.results import write_comparison

    sc = load_scenario("tiny")
    results = [run(sc, name, days=0.125) for name in ("uncontrolled", "tou")]
    folder = write_comparison(results, tmp_path / "cmp")
    compared = json.loads((folder / "compare.json").read_text(encoding="utf-8"))
    for name in ("uncontrolled", "tou"):
        own = json.loads((folder / name / "economics.json").read_text(encoding="utf-8"))
        for key in ("npv", "lcoe_per_kwh", "annual_operating_margin"):
            assert compared[name][key] == pytest.approx(own[key], rel=1e-12), key
    labels = [str(row) for t in kpi_tables(compared, width=200) for row in t.columns[0].cells]
    assert "NPV of the road [JPY]" in labels
    assert "Levelised cost per kWh delivered [JPY/kWh]" in labels


def test_a_reserve_payment_is_the_road_operators(partner_run: Path, tmp_path: Path) -> None:
    base = folder_economics(partner_run)
    reserve = tmp_path / "reserve.json"
    reserve.write_text(json.dumps({"product": "jp-primary", "revenue": 100.0}), encoding="utf-8")
    econ = folder_economics(partner_run, reserve)
    assert econ.streams["reserve_revenue"] == pytest.approx(100.0 * 365)
    assert econ.operating_margin - base.operating_margin == pytest.approx(100.0 * 365)
    assert econ.parties["road_operator"].outside["reserve capacity"] == pytest.approx(36_500.0)
    reserve.write_text("[1, 2]", encoding="utf-8")
    bad = runner.invoke(app, ["economics", str(partner_run), "--reserve", str(reserve)])
    assert bad.exit_code == 2
    assert "no revenue figure" in bad.output
