"""A researcher's own strategy plugs in by name and is held to the ratings."""

from __future__ import annotations

import numpy as np
import pytest

from ersgrid import Dispatch, Observation, Strategy, StrategyError, run


class HalfPower(Strategy):
    name = "half-power"

    def decide(self, observation: Observation) -> Dispatch:
        lay = self.context.layout
        return Dispatch(0.5 * lay.seg_rating_kw, 0.1 * lay.sub_rating_kw)


class WrongShape(Strategy):
    name = "wrong-shape"

    def decide(self, observation: Observation) -> Dispatch:
        return Dispatch(np.zeros(1), np.zeros(1))


def test_plugin_by_module_path_limits_power() -> None:
    res = run("tiny", strategy=f"{__name__}:HalfPower", days=0.5)
    base = run("tiny", strategy="uncontrolled", days=0.5)
    assert res.strategy == "half-power"
    limit = 0.1 * 1200.0
    assert res.timeseries["road_peak_SS-Test_kw"].max() <= limit * (1 + 1e-9)
    assert res.kpis["energy_delivered_kwh"] < base.kpis["energy_delivered_kwh"]
    assert res.kpis["unmet_energy_kwh"] >= base.kpis["unmet_energy_kwh"]


def test_bad_dispatch_is_named() -> None:
    with pytest.raises(StrategyError, match="wrong-shape"):
        run("tiny", strategy=WrongShape(), days=0.25)


def test_not_a_strategy() -> None:
    with pytest.raises(StrategyError, match="not a subclass"):
        run("tiny", strategy="ersgrid.errors:ErsgridError", days=0.25)
