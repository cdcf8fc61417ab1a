"""The report's figures read the run's own numbers: the dispatch stack balances, the cost
breakdown adds up to the margin and the objective, unmet energy by class to its KPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ersgrid.report.common import baseline_of, thin
from ersgrid.report.costs import waterfall_steps
from ersgrid.report.dispatch import ROAD, SINKS, SOURCES, connection_dispatch, run_dispatch
from ersgrid.report.html import report_sections, write_report
from ersgrid.report.outcomes import unmet_by_class
from ersgrid.run import run
from ersgrid.run.kpis import MARGIN_TERMS, OBJECTIVE_TERMS
from ersgrid.run.runner import RunResult
from ersgrid.scenario.loader import parse_scenario


@pytest.fixture(scope="module")
def priced_runs() -> list[RunResult]:
    """tiny for half a day with every money term switched on (network fee, carbon price,
    demand charge, PPA price), uncontrolled and tou."""
    import yaml

    from ersgrid.scenario.loader import _builtin_text

    data: dict[str, Any] = yaml.safe_load(_builtin_text("tiny"))
    data["tariff"] |= {"carbon_price_per_kg": 8.0, "demand_charge_per_kw": 40.0}
    data.setdefault("prices", {})["network_fee_per_kwh"] = 9.0
    data.setdefault("settlement", {})["ppa_price_per_kwh"] = 12.0
    sc = parse_scenario(data, "tiny")
    return [run(sc, name, days=0.5) for name in ("uncontrolled", "tou")]


def test_every_money_term_is_on(priced_runs: list[RunResult]) -> None:
    k = priced_runs[1].kpis
    for key in ("network_fees", "carbon_cost", "demand_charge", "renewable_purchase",
                "storage_wear_cost", "shortfall_penalty", "grid_energy_cost"):  # fmt: skip
        assert k[key] > 0.0, key
    assert k["grid_energy_cost"] + k["network_fees"] == pytest.approx(k["import_cost"])


def test_cost_breakdown_adds_up_to_margin_and_objective(priced_runs: list[RunResult]) -> None:
    for r in priced_runs:
        steps = waterfall_steps(r.kpis)
        labels = [s[0] for s in steps]
        cut = labels.index("margin")
        margin = sum(v for _, _, v in steps[:cut])
        assert margin == pytest.approx(r.kpis["margin"], rel=1e-12, abs=1e-6)
        assert steps[cut][2] == r.kpis["margin"]
        rest = sum(v for _, _, v in steps[cut + 1 : -1])
        assert margin + rest == pytest.approx(-r.kpis["objective"], rel=1e-12, abs=1e-6)
        assert steps[-1] == ("−objective", "total", -r.kpis["objective"])
        assert len(steps) == len(MARGIN_TERMS) + len(OBJECTIVE_TERMS) + 2


def test_margin_is_the_money_the_docs_define(priced_runs: list[RunResult]) -> None:
    for r in priced_runs:
        k = r.kpis
        assert k["margin"] == pytest.approx(
            k["revenue"] + k["export_revenue"] - k["energy_cost"] - k["renewable_purchase"]
            - k["v2g_buyback"] - k["v2g_payment"]
        )  # fmt: skip


def test_dispatch_stack_balances_for_the_corridor_and_each_connection(
    priced_runs: list[RunResult],
) -> None:
    for r in priced_runs:
        d = run_dispatch(r)
        net = d[list(SOURCES)].sum(axis=1) - d[list(SINKS)].sum(axis=1)
        np.testing.assert_allclose(net, d[ROAD], atol=1e-6)
        assert (d[[*SOURCES, *SINKS]] >= -1e-9).all().all()
        per = connection_dispatch(r)
        for frame in per.values():
            net = frame[list(SOURCES)].sum(axis=1) - frame[list(SINKS)].sum(axis=1)
            np.testing.assert_allclose(net, frame[ROAD], atol=1e-6)
        # the connections add up to the corridor (V2G aside, which nets the road load there)
        total = sum(per.values())
        for col in ("grid_import_kw", "pv_kw", "wind_kw", "storage_discharge_kw",
                    "grid_export_kw", "curtailed_kw", "other_load_kw"):  # fmt: skip
            np.testing.assert_allclose(total[col], d[col], atol=1e-6)
        # and the energy the stack shows is the KPIs' energy
        assert d["grid_import_kw"].sum() * 0.25 == pytest.approx(r.kpis["grid_import_kwh"])
        assert d["storage_discharge_kw"].sum() * 0.25 == pytest.approx(
            r.kpis["storage_discharged_kwh"]
        )


def test_unmet_energy_by_class_adds_up_to_its_kpi(priced_runs: list[RunResult]) -> None:
    for r in priced_runs:
        by_class = unmet_by_class(r)
        assert set(by_class.index) == set(r.scenario.vehicles)
        assert by_class.sum() == pytest.approx(r.kpis["unmet_energy_kwh"])


def test_sections_of_a_run_and_of_a_comparison(priced_runs: list[RunResult]) -> None:
    single = [s.title for s in report_sections(priced_runs[:1])]
    both = [s.title for s in report_sections(priced_runs)]
    assert "Differences against uncontrolled" not in single
    assert "Differences against uncontrolled" in both
    titles = ("Cost breakdown", "Dispatch stack", "Stationary storage", "Grid connections",
              "Limit violations", "Unmet energy by vehicle class", "Price and CO2")  # fmt: skip
    for title in titles:
        assert title in single
        assert title in both
    assert all(s.how_to_read for s in report_sections(priced_runs))
    assert baseline_of(priced_runs[::-1]) is priced_runs[0]


def test_every_axis_has_a_unit(priced_runs: list[RunResult]) -> None:
    for section in report_sections(priced_runs):
        for fig in section.figures:
            layout = fig.to_plotly_json()["layout"]
            axes = [v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
            titled = [a["title"]["text"] for a in axes if a.get("title", {}).get("text")]
            assert titled, f"{section.title}: a plot without axis titles"
            for text in titled:
                if text.startswith(("time", "vehicle class", "limit")):  # no unit to give
                    continue
                assert "[" in text, f"{section.title}: axis {text!r} has no unit"


def test_the_page_embeds_plotly_once(priced_runs: list[RunResult], tmp_path: Path) -> None:
    page = write_report(priced_runs, tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("Copyright (c)") <= 2  # the plotly.js bundle's licence header, once
    assert page.count("plotly.js v") == 1
    assert len(page) < 8_000_000


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9000), max_points=st.integers(10, 3000))
def test_thinning_is_for_plotting_only(n: int, max_points: int) -> None:
    index = pd.date_range("2035-01-01", periods=n, freq="15min", tz="Asia/Tokyo")
    frame = pd.DataFrame({"a_kw": np.arange(n, dtype=float), "b_kw": np.ones(n)}, index=index)
    out = thin(frame, max_points)
    assert len(out) <= max_points
    assert out.index[0] == frame.index[0]
    assert out.index.is_monotonic_increasing
    assert np.allclose(out["b_kw"], 1.0)
    if n <= max_points:
        assert out is frame
    else:
        assert out["a_kw"].min() >= 0.0
        assert out["a_kw"].max() <= n - 1
