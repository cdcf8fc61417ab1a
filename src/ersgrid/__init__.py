"""ersgrid: energy management and digital twin for electric road systems.

The public API::

    import ersgrid
    scenario = ersgrid.load_scenario("shin-tomei")
    result = ersgrid.run(scenario, strategy="uncontrolled", days=1, out="results/shin-tomei")
    result.kpis["energy_delivered_kwh"]
"""

from ersgrid.control import Dispatch, Observation, RunContext, Strategy, register_strategy
from ersgrid.errors import (
    DataError,
    ErsgridError,
    InfeasibleSchedule,
    LedgerError,
    LedgerTampered,
    ScenarioError,
    ServiceError,
    SimulationError,
    StrategyError,
)
from ersgrid.run import RunResult, run
from ersgrid.scenario import Scenario, build_layout, builtin_names, load_scenario

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "Dispatch",
    "ErsgridError",
    "InfeasibleSchedule",
    "LedgerError",
    "LedgerTampered",
    "Observation",
    "RunContext",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "ServiceError",
    "SimulationError",
    "Strategy",
    "StrategyError",
    "__version__",
    "build_layout",
    "builtin_names",
    "load_scenario",
    "register_strategy",
    "run",
]
