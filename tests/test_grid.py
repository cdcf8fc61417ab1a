"""Power flow: batch solver against pandapower, violation counting, non-convergence, runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ersgrid.data.networks import load_network
from ersgrid.errors import GridError, ScenarioError
from ersgrid.grid.check import count_violations, grid_inputs, prepare_case, run_grid_check
from ersgrid.grid.powerflow import compile_case, solve_batch, solve_pandapower
from ersgrid.scenario import parse_scenario
from ersgrid.scenario.loader import builtin_names, load_scenario
from ersgrid.world import EnergyContext, build_world, renewable_split

INDEX = pd.date_range("2035-04-02", periods=5, freq="15min", tz="Asia/Tokyo")


def _feeder(tmp_path: Path) -> Path:
    """Slack bus, one 10 km 20 kV line (3 Ω, 3.5 Ω, 120 A ≈ 4.2 MVA) to the bus 'Road'."""
    import pandapower as pp

    net = pp.create_empty_network()
    b0 = pp.create_bus(net, 20.0, name="Slack", index=10)  # indices need not be positions
    b1 = pp.create_bus(net, 20.0, name="Road", index=20)
    pp.create_ext_grid(net, b0, vm_pu=1.0)
    pp.create_line_from_parameters(net, b0, b1, length_km=10.0, r_ohm_per_km=0.3,
                                   x_ohm_per_km=0.35, c_nf_per_km=0.0, max_i_ka=0.12,
                                   name="Feeder")  # fmt: skip
    path = tmp_path / "feeder.json"
    pp.to_json(net, str(path))
    return path


def _tiny_on(tiny_data: dict[str, Any], network: Path, **grid: Any) -> Any:
    conn = [{"substation": "SS-Test", "bus": "Road"}]
    tiny_data["grid"] = {"network": str(network), "connections": conn, **grid}
    return parse_scenario(tiny_data, "tiny-feeder")


def test_violations_are_counted_on_a_feeder_built_to_violate(
    tmp_path: Path, tiny_data: dict[str, Any]
) -> None:
    scenario = _tiny_on(tiny_data, _feeder(tmp_path))
    # 1 MW: fine. 4.5 MW: line over its 4.2 MVA, voltage still ~0.965. 7 MW: both violated.
    draw_kw = np.array([[1000.0], [4500.0], [7000.0], [1000.0], [7500.0]])
    check = run_grid_check(build_world(scenario, INDEX), draw_kw)
    vm = check.result.vm_pu[:, check.bus_names.index("Road")]
    assert np.all(check.result.converged)
    assert vm[0] > 0.98
    assert 0.95 < vm[1] < 0.98
    assert vm[2] < 0.95
    assert vm[4] < vm[2]
    assert check.result.line_loading_pct[:, 0][[0, 3]].max() < 50.0
    assert check.result.line_loading_pct[1, 0] > 100.0
    assert check.voltage_violations == 2  # bus Road at steps 2 and 4
    assert check.loading_violations == 3  # the feeder at steps 1, 2 and 4
    assert check.min_voltage_pu == pytest.approx(vm[4])
    # The same case through pandapower's own solver gives the same counts.
    case = prepare_case(scenario.grid, ["SS-Test"])
    reference = solve_pandapower(case, grid_inputs(build_world(scenario, INDEX), case, draw_kw))
    assert count_violations(reference, scenario.grid)[:2] == (2, 3)
    np.testing.assert_allclose(reference.vm_pu, check.result.vm_pu, atol=1e-8)


def test_excess_in_kw_equivalents_is_the_draw_that_would_have_kept_the_limits(
    tmp_path: Path, tiny_data: dict[str, Any]
) -> None:
    """On the feeder built to violate, a step's excess over the network's limits in
    kW-equivalents is the draw the connection would have had to give up: where only the
    line is over its rating (step 1), drawing that much less brings its loading to the limit
    within 3 % of the excess (the power flow's curvature); where the voltage and the line
    are both beyond (steps 2, 4), the summed kW-equivalents are more than either needs and
    drawing that much less keeps both; a step within its limits counts 0, and so does a
    breach the controlled part of the draw did not cause."""
    scenario = _tiny_on(tiny_data, _feeder(tmp_path))
    spec = scenario.grid
    assert spec is not None
    draw_kw = np.array([[1000.0], [4500.0], [7000.0], [1000.0], [7500.0]])
    world = build_world(scenario, INDEX)
    check = run_grid_check(world, draw_kw)
    excess = check.excess_kw_eq
    assert excess[0] == 0.0
    assert excess[3] == 0.0
    assert np.all(excess[[1, 2, 4]] > 0.0)
    after = run_grid_check(world, draw_kw - excess[:, None]).result
    road = check.bus_names.index("Road")
    over = check.result.line_loading_pct[1, 0] - spec.loading_max_pct
    assert abs(after.line_loading_pct[1, 0] - spec.loading_max_pct) <= 0.03 * over
    for k in (2, 4):
        assert after.vm_pu[k, road] >= spec.voltage_min_pu
        assert after.line_loading_pct[k, 0] <= spec.loading_max_pct
    # a breach the controlled draw did not cause is not counted, a part of it counts less
    none = run_grid_check(world, draw_kw, controlled_kw=np.zeros_like(draw_kw)).excess_kw_eq
    assert np.all(none == 0.0)
    part = run_grid_check(world, draw_kw, controlled_kw=0.02 * draw_kw).excess_kw_eq
    assert np.all(part[[1, 2, 4]] > 0.0)
    assert np.all(part[[1, 2, 4]] < excess[[1, 2, 4]])


def test_voltage_band_and_loading_limit_come_from_the_scenario(
    tmp_path: Path, tiny_data: dict[str, Any]
) -> None:
    scenario = _tiny_on(tiny_data, _feeder(tmp_path), voltage_min_pu=0.97, loading_max_pct=150)
    draw_kw = np.array([[1000.0], [4500.0], [7000.0], [1000.0], [7500.0]])
    check = run_grid_check(build_world(scenario, INDEX), draw_kw)
    assert check.voltage_violations == 3
    assert check.loading_violations == 2


def test_non_convergence_names_the_step_and_cause(
    tmp_path: Path, tiny_data: dict[str, Any]
) -> None:
    scenario = _tiny_on(tiny_data, _feeder(tmp_path))
    draw_kw = np.array([[1000.0], [2000.0], [60_000.0], [1000.0], [1000.0]])  # 60 MW > ~33 MW
    with pytest.raises(GridError) as err:
        run_grid_check(build_world(scenario, INDEX), draw_kw)
    text = str(err.value)
    assert "step 2 (2035-04-02 00:30:00+09:00)" in text
    assert "did not converge" in text
    assert "60.00 MW" in text
    assert "MVA at Road)" in text
    recorded = run_grid_check(
        build_world(_tiny_on(tiny_data, _feeder(tmp_path), on_nonconvergence="record"), INDEX),
        draw_kw,
    )
    assert list(np.flatnonzero(~recorded.result.converged)) == [2]
    assert len(recorded.failures) == 1
    assert "step 2" in recorded.failures[0]
    assert recorded.voltage_violations == 0  # only converged steps are counted


def test_unknown_bus_and_bad_cross_references_are_reported(
    tmp_path: Path, tiny_data: dict[str, Any]
) -> None:
    scenario = _tiny_on(tiny_data, _feeder(tmp_path))
    assert scenario.grid is not None
    with pytest.raises(GridError, match="bus 'Bus 99' does not exist"):
        compile_case(load_network(scenario.grid.network), ["Bus 99"])
    tiny_data["grid"]["connections"][0]["substation"] = "SS-Nowhere"
    with pytest.raises(ScenarioError, match="unknown substation 'SS-Nowhere'"):
        parse_scenario(tiny_data, "bad")
    tiny_data.pop("grid")
    tiny_data.pop("weather")
    with pytest.raises(ScenarioError, match="renewables are listed"):
        parse_scenario(tiny_data, "bad")


@pytest.mark.parametrize("name", [n for n in builtin_names() if load_scenario(n).grid is not None])
def test_batch_power_flow_finds_exactly_what_pandapower_finds(name: str) -> None:
    """The fast solver is exact, not a screen: same voltages, same loadings, same violations,
    on every built-in's network with the road drawing up to 120 % of its substation ratings."""
    scenario = load_scenario(name)
    assert scenario.grid is not None
    subs = [s.id for s in scenario.substations]
    rating = np.array([s.rating_kw for s in scenario.substations])
    # 32 steps from 08:00, when the network's own loads are high, and so is the sun.
    index = pd.date_range("2035-04-02 08:00", periods=32, freq="15min", tz=scenario.timezone)
    rng = np.random.default_rng(3)
    draw_kw = rating[None, :] * rng.uniform(0.0, 1.2, (32, len(subs)))
    case = prepare_case(scenario.grid, subs)
    inputs = grid_inputs(build_world(scenario, index), case, draw_kw)
    fast = solve_batch(case, inputs)
    reference = solve_pandapower(case, inputs)
    assert fast.converged.all()
    assert reference.converged.all()
    np.testing.assert_allclose(fast.vm_pu, reference.vm_pu, atol=1e-7)
    np.testing.assert_allclose(fast.line_loading_pct, reference.line_loading_pct, atol=1e-4)
    np.testing.assert_allclose(fast.trafo_loading_pct, reference.trafo_loading_pct, atol=1e-4)
    spec = scenario.grid
    for a, b in ((fast, reference),):
        va = (a.vm_pu < spec.voltage_min_pu) | (a.vm_pu > spec.voltage_max_pu)
        vb = (b.vm_pu < spec.voltage_min_pu) | (b.vm_pu > spec.voltage_max_pu)
        np.testing.assert_array_equal(va, vb)
        la = np.concatenate([a.line_loading_pct, a.trafo_loading_pct], 1) > spec.loading_max_pct
        lb = np.concatenate([b.line_loading_pct, b.trafo_loading_pct], 1) > spec.loading_max_pct
        np.testing.assert_array_equal(la, lb)
    assert count_violations(fast, spec) == pytest.approx(count_violations(reference, spec))


def test_renewable_split_conserves_energy() -> None:
    rng = np.random.default_rng(0)
    shape = (200, 3)
    energy = EnergyContext(
        other_load_kw=rng.uniform(0, 300, shape), renewable_kw=rng.uniform(0, 2000, shape),
        import_limit_kw=np.full(shape, np.inf), export_limit_kw=np.full(shape, 250.0),
    )  # fmt: skip
    road = rng.uniform(0, 1500, shape)
    split = renewable_split(road, energy)
    total = split.to_road_kw + split.to_other_kw + split.exported_kw + split.curtailed_kw
    np.testing.assert_allclose(total, energy.renewable_kw)
    assert np.all(split.to_road_kw <= road + 1e-12)
    assert np.all(split.exported_kw <= 250.0 + 1e-12)
    # Curtailment only when road and other loads are fully served and export is at its limit.
    curt = split.curtailed_kw > 1e-9
    np.testing.assert_allclose(split.to_road_kw[curt], road[curt])
    np.testing.assert_allclose(split.exported_kw[curt], 250.0)


def test_run_reports_grid_kpis_renewables_and_plots(tmp_path: Path) -> None:
    from ersgrid.results import write_results
    from ersgrid.run import run

    result = run("tiny", days=1)
    write_results(result, tmp_path / "out")
    k = result.kpis
    for key in ("voltage_violations", "loading_violations", "min_voltage_pu", "max_loading_pct",
                "renewable_used_kwh", "curtailed_kwh", "renewable_share"):  # fmt: skip
        assert k[key] is not None, key
    ts = result.timeseries
    step_h = 0.25
    assert k["renewable_used_kwh"] == pytest.approx(ts["renewable_used_kw"].sum() * step_h)
    assert k["renewable_used_kwh"] <= k["road_energy_kwh"] + 1e-6
    assert k["renewable_kwh"] == pytest.approx(
        (ts["renewable_used_kw"] + ts["renewable_other_kw"] + ts["renewable_exported_kw"]
         + ts["curtailed_kw"]).sum() * step_h)  # fmt: skip
    assert 0.9 < k["min_voltage_pu"] <= 1.0
    assert k["max_loading_pct"] > 0
    assert ts["grid_voltage_SS-Test_pu"].notna().all()
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Bus voltages against the band" in page
    assert "Loading of each line and transformer" in page
    assert "Local renewables: where they go" in page


def test_recorded_failure_shows_in_kpis_and_columns(
    tmp_path: Path, tiny_data: dict[str, Any]
) -> None:
    from ersgrid.grid.outputs import energy_outputs

    scenario = _tiny_on(tiny_data, _feeder(tmp_path), on_nonconvergence="record")
    world = build_world(scenario, INDEX)
    road = np.array([[1000.0], [2000.0], [60_000.0], [1000.0], [1000.0]])
    columns, kpis, check = energy_outputs(world, road, world.energy)
    assert check is not None
    assert kpis["powerflow_failures"] == 1
    assert "step 2" in kpis["powerflow_failure_messages"][0]
    assert np.isnan(columns["grid_min_voltage_pu"][2])
    assert np.isfinite(np.delete(columns["grid_min_voltage_pu"], 2)).all()
    assert kpis["min_voltage_pu"] == pytest.approx(np.nanmin(columns["grid_min_voltage_pu"]))


def test_a_wrong_bus_stops_the_run_before_the_twin_runs(
    tmp_path: Path, tiny_data: dict[str, Any]
) -> None:
    from ersgrid.run import run

    scenario = _tiny_on(tiny_data, _feeder(tmp_path))
    assert scenario.grid is not None
    scenario.grid.connections[0].bus = "Bus 99"
    calls: list[int] = []
    with pytest.raises(GridError, match="bus 'Bus 99' does not exist"):
        run(scenario, days=1, progress=lambda done, total: calls.append(done))
    assert calls == []


def test_network_pv_without_weather_stops_the_run_at_once(tiny_data: dict[str, Any]) -> None:
    from ersgrid.grid.outputs import prepare_grid
    from ersgrid.scenario import build_layout

    for key in ("weather", "renewables"):
        tiny_data.pop(key)
    tiny_data["grid"]["network"] = "cigre_mv_der"
    scenario = parse_scenario(tiny_data, "no-weather")
    with pytest.raises(GridError, match="9 PV/wind units; give the scenario a weather section"):
        prepare_grid(scenario, build_layout(scenario))


SIMBENCH_GRID = {
    "network": "simbench:1-MV-rural--0-sw",
    "connections": [
        {"substation": "SS-Test", "bus": "MV1.101 Bus 4", "import_limit_kw": 1500,
         "export_limit_kw": 500},
    ],
    "network_profiles": "simbench",
}  # fmt: skip


def test_simbench_network_with_its_own_profiles(tiny_data: dict[str, Any]) -> None:
    """A SimBench MV grid by code, its loads and generators driven by their SimBench profiles
    (checked against simbench's own absolute values at one step)."""
    sb = pytest.importorskip("simbench")
    from ersgrid import run

    tiny_data["grid"] = SIMBENCH_GRID
    scenario = parse_scenario(tiny_data, "simbench")
    assert scenario.grid is not None
    case = prepare_case(scenario.grid, ["SS-Test"])
    index = pd.date_range("2035-07-01 12:00", periods=4, freq="15min", tz=scenario.timezone)
    inputs = grid_inputs(build_world(scenario, index), case, np.zeros((4, 1)))
    net = load_network("simbench:1-MV-rural--0-sw")
    absolute = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    row = (index[0].dayofyear - 1) * 96 + 12 * 4  # 1 July 12:00 in the 2016 profile year
    first = net.load.index[0]
    expected = absolute[("load", "p_mw")].loc[row, first] / (
        net.load.loc[first, "p_mw"] * net.load.loc[first, "scaling"]
    )
    assert inputs.load_factor[0, 0] == pytest.approx(expected, rel=1e-9)
    assert inputs.sgen_factor.shape == (4, int(net.sgen["in_service"].sum()))
    result = run(scenario, "uncontrolled", days=0.25)
    assert result.kpis["powerflow_failures"] == 0
    assert 0.85 < result.kpis["min_voltage_pu"] <= 1.1


def test_unknown_simbench_code_is_named(tiny_data: dict[str, Any]) -> None:
    pytest.importorskip("simbench")
    from ersgrid import run
    from ersgrid.errors import ErsgridError

    tiny_data["grid"] = dict(SIMBENCH_GRID, network="simbench:no-such-grid")
    scenario = parse_scenario(tiny_data, "bad")
    with pytest.raises(ErsgridError, match="no-such-grid"):
        run(scenario, "uncontrolled", days=0.25)


def test_sensitivities_agree_with_finite_difference_power_flows() -> None:
    """Voltages' and loadings' derivatives by each connection's draw from the Jacobian of
    the batch power flow, against central differences (±1 kW) of pandapower's runpp on a
    small network: 110/20 kV transformer, two 20 kV lines in a row, a network load, road
    connections at both ends at power factor 0.95. Agreement within 1e-6 p.u./MW and
    1e-4 %/MW (measured: ~1e-9 and ~1e-7), at 0 to 4 MW per connection."""
    import pandapower as pp

    from ersgrid.grid.powerflow import GridInputs
    from ersgrid.grid.sensitivity import finite_differences, sensitivities

    net = pp.create_empty_network()
    hv = pp.create_bus(net, 110.0, name="HV")
    mv = pp.create_bus(net, 20.0, name="MV")
    a = pp.create_bus(net, 20.0, name="A")
    b = pp.create_bus(net, 20.0, name="B")
    pp.create_ext_grid(net, hv, vm_pu=1.02)
    pp.create_transformer(net, hv, mv, std_type="25 MVA 110/20 kV", name="T1")
    for f, t, km in ((mv, a, 4.0), (a, b, 6.0)):
        pp.create_line_from_parameters(
            net,
            f,
            t,
            length_km=km,
            r_ohm_per_km=0.2,
            x_ohm_per_km=0.35,
            c_nf_per_km=10.0,
            max_i_ka=0.3,
        )
    pp.create_load(net, a, p_mw=2.0, q_mvar=0.5, name="Load A")
    case = compile_case(net, ["A", "B"], power_factor=0.95)
    rng = np.random.default_rng(11)
    steps = 4
    inputs = GridInputs(rng.uniform(0.3, 1.0, (steps, 1)), np.zeros((steps, 0)),
                        rng.uniform(0.0, 4.0, (steps, 2)))  # fmt: skip
    s = sensitivities(case, inputs)
    base, dvm, dline, dtrafo = finite_differences(case, inputs)
    assert s.converged.all()
    np.testing.assert_allclose(s.vm_pu, base.vm_pu, atol=1e-8)
    np.testing.assert_allclose(s.line_loading_pct, base.line_loading_pct, atol=1e-5)
    np.testing.assert_allclose(s.dvm_pu_per_mw, dvm, atol=1e-6)
    np.testing.assert_allclose(s.dline_pct_per_mw, dline, atol=1e-4)
    np.testing.assert_allclose(s.dtrafo_pct_per_mw, dtrafo, atol=1e-4)
    # the far end falls most, per MW drawn at it; the slack bus holds
    assert s.dvm_pu_per_mw[:, 3, 1].max() < s.dvm_pu_per_mw[:, 2, 1].min() < 0.0
    assert np.all(s.dvm_pu_per_mw[:, 0] == 0.0)
