"""Users' response to prices: trips shift to cheap hours, V2G opt-in follows the payment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from ersgrid import load_scenario, run
from ersgrid.cli import app
from ersgrid.scenario import parse_scenario
from ersgrid.scenario.response import ResponseSpec
from ersgrid.timeindex import planning_index
from ersgrid.world import build_world
from ersgrid.world.response import shift_trips, user_price_series, v2g_opt_in

NIGHT_DISCOUNT = {
    "user_windows": [{"name": "night", "start": "00:00", "end": "05:00", "price_per_kwh": 30.0}],
    "flexible_share": {"truck": 0.3, "car": 0.0, "bus": 0.0},
    "shift_max_h": 3,
    "shift_elasticity": 2.0,
}


def test_opt_in_curve() -> None:
    assert v2g_opt_in(ResponseSpec()) == 1.0
    half = ResponseSpec(v2g_payment_per_kwh=10.0, v2g_half_payment_per_kwh=10.0)
    assert v2g_opt_in(half) == pytest.approx(0.5)
    none = ResponseSpec(v2g_payment_per_kwh=0.0, v2g_half_payment_per_kwh=10.0)
    assert v2g_opt_in(none) == 0.0


def test_flat_user_price_moves_nothing() -> None:
    sc = load_scenario("tiny")
    index = planning_index(sc, 1.0)
    volume = build_world(sc, index).model_volume
    shifted, moved = shift_trips(volume, sc, index)
    assert moved == 0.0
    assert shifted.equals(volume)


def test_night_discount_moves_flexible_trucks_and_keeps_the_total(
    tiny_data: dict[str, Any],
) -> None:
    tiny_data["response"] = NIGHT_DISCOUNT
    sc = parse_scenario(tiny_data)
    index = planning_index(sc, 1.0)
    price = user_price_series(sc, index)
    assert price[np.asarray(index.hour) == 2].max() == 30.0
    assert price[np.asarray(index.hour) == 12].min() == sc.tariff.user_price_per_kwh
    volume = build_world(sc, index).model_volume
    shifted, moved = shift_trips(volume, sc, index)
    assert moved > 0
    assert shifted.to_numpy().sum() == pytest.approx(volume.to_numpy().sum(), rel=1e-12)
    night = np.asarray(index.hour) < 5
    assert shifted.loc[night, "truck_A"].sum() > volume.loc[night, "truck_A"].sum()
    # cars are not flexible here: untouched
    assert np.allclose(shifted["car_A"], volume["car_A"])
    # within reach only: 08:00 is more than 3 h from the window
    eight = np.asarray(index.hour) == 8
    assert np.allclose(shifted.loc[eight, "truck_A"], volume.loc[eight, "truck_A"])


def test_payment_changes_v2g_in_the_twin(tiny_data: dict[str, Any]) -> None:
    tiny_data["response"] = {"v2g_payment_per_kwh": 0.0, "v2g_half_payment_per_kwh": 10.0}
    nobody = run(parse_scenario(tiny_data), "uncontrolled", days=0.5)
    assert not nobody.world.arrivals.v2g.any()
    tiny_data["response"] = {"v2g_payment_per_kwh": 30.0, "v2g_half_payment_per_kwh": 10.0}
    many = run(parse_scenario(tiny_data), "uncontrolled", days=0.5)
    assert many.world.arrivals.v2g.mean() > 0


def test_compare_tariff_designs(tmp_path: Path) -> None:
    design = tmp_path / "night.yaml"
    import yaml

    design.write_text(yaml.safe_dump({"response": NIGHT_DISCOUNT}), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("road: {}\n", encoding="utf-8")
    runner = CliRunner()
    args = ["compare", "tiny", "--strategies", "uncontrolled", "--days", "0.5", "-q"]
    res = runner.invoke(app, [*args, "--tariffs", str(design), "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c" / "uncontrolled@night" / "kpis.json").is_file()
    res = runner.invoke(app, [*args, "--tariffs", str(bad), "--out", str(tmp_path / "d")])
    assert res.exit_code == 2
    assert "tariff design" in res.output
