"""Forecasting: features, models, the forecaster strategies call, and backtests.

See ``docs/forecasting.md``. Targets: traffic by class and direction, demand, PV, wind,
renewables, price and CO2 intensity, 15-min steps, up to 48 h ahead, with P10/P50/P90.
"""

from ersgrid.forecast.backtest import BacktestResult, backtest
from ersgrid.forecast.forecaster import Forecaster, LearnedTraffic, target_names
from ersgrid.forecast.importers import parse_history, read_history
from ersgrid.forecast.models import GradientBoosting, SeasonalNaive, TargetModel, make_model
from ersgrid.world.history import generate_history

__all__ = [
    "BacktestResult",
    "Forecaster",
    "GradientBoosting",
    "LearnedTraffic",
    "SeasonalNaive",
    "TargetModel",
    "backtest",
    "generate_history",
    "make_model",
    "parse_history",
    "read_history",
    "target_names",
]
