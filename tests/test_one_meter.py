"""One price, one meter: the ledger's signed statements and the run's KPIs agree, item by item,
to the currency unit, on every built-in scenario and on a spot-priced corridor."""

from __future__ import annotations

from pathlib import Path

import pytest

from ersgrid import load_scenario, run, write_results
from ersgrid.ledger.settlement import item_totals
from ersgrid.results.economics import read_statements
from ersgrid.scenario import parse_scenario
from ersgrid.scenario.loader import apply_overrides

EXAMPLES = Path(__file__).parents[1] / "examples"


CASES = [
    ("tiny", "uncontrolled", 0.25, {}),
    # a steep demand charge and small batteries: the oracle cuts the peak with V2G too
    ("tiny", "oracle", 0.5,
     {"tariff.demand_charge_per_kw": 300.0, "response.v2g_payment_per_kwh": 2.0,
      "storage.power_kw": 50.0}),
    ("shin-tomei", "uncontrolled", 0.25, {}),
    ("e20", "tou", 0.25, {}),
    ("xinjiang-g30", "uncontrolled", 0.125, {}),
    ("kyushu", "tou", 0.25, {}),
    (str(EXAMPLES / "freight-spot.yaml"), "tou", 0.25,
     {"prices.network_fee_per_kwh": 4.0, "settlement.ppa_price_per_kwh": 7.5}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "strategy", "days", "overrides"), CASES)
def test_statements_equal_the_kpis(
    tmp_path: Path, name: str, strategy: str, days: float, overrides: dict[str, object]
) -> None:
    resolved = load_scenario(name).model_dump(mode="json")  # every section, defaults filled
    scenario = parse_scenario(apply_overrides(resolved, overrides))
    result = run(scenario, strategy, days=days)
    folder = write_results(result, tmp_path / "r")
    k = result.kpis
    assert k["settlement_balanced"] is True
    paid = item_totals(read_statements(folder))  # type: ignore[arg-type]
    pairs = {
        "charging": k["revenue"],
        "energy": k["import_cost"] - k["network_fees"],
        "network fee": k["network_fees"],
        "export": k["export_revenue"],
        "V2G refund": k["v2g_buyback"],
        "V2G payment": k["v2g_payment"],
        "local renewables": k["renewable_purchase"],
    }
    for item, kpi in pairs.items():
        assert paid.get(item, 0.0) == pytest.approx(kpi, abs=1.0), item
    if strategy == "oracle":
        assert paid.get("V2G refund", 0.0) > 0  # the V2G lines are exercised
    if "prices.network_fee_per_kwh" in overrides:
        assert paid["network fee"] > 0
        assert paid["local renewables"] > 0
