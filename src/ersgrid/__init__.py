"""ersgrid: energy management and digital twin for electric road systems.

The public API::

    import ersgrid
    scenario = ersgrid.load_scenario("shin-tomei")
    result = ersgrid.run(scenario, strategy="uncontrolled", days=1)
    result.kpis["energy_delivered_kwh"]
    ersgrid.write_results(result, "results/shin-tomei")

The names are loaded on first use (PEP 562), so that ``import ersgrid`` and the command
line's ``--help`` do not pay for the numerical stack; the exception tree is loaded at once.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ersgrid.errors import (
    DataError,
    ErsgridError,
    GridError,
    InfeasibleSchedule,
    LedgerError,
    LedgerTampered,
    ScenarioError,
    ServiceError,
    SimulationError,
    StrategyError,
    SweepError,
)

if TYPE_CHECKING:
    from ersgrid.control import Dispatch, Observation, RunContext, Strategy, register_strategy
    from ersgrid.results import write_results
    from ersgrid.run import RunResult, RunState, run
    from ersgrid.scenario import Scenario, build_layout, builtin_names, load_scenario

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Dispatch": "ersgrid.control",
    "Observation": "ersgrid.control",
    "RunContext": "ersgrid.control",
    "Strategy": "ersgrid.control",
    "register_strategy": "ersgrid.control",
    "RunResult": "ersgrid.run",
    "RunState": "ersgrid.run",
    "run": "ersgrid.run",
    "Scenario": "ersgrid.scenario",
    "build_layout": "ersgrid.scenario",
    "builtin_names": "ersgrid.scenario",
    "load_scenario": "ersgrid.scenario",
    "write_results": "ersgrid.results",
}
"""Public name -> module that defines it, imported when the name is first asked for."""

__all__ = [
    "DataError",
    "Dispatch",
    "ErsgridError",
    "GridError",
    "InfeasibleSchedule",
    "LedgerError",
    "LedgerTampered",
    "Observation",
    "RunContext",
    "RunResult",
    "RunState",
    "Scenario",
    "ScenarioError",
    "ServiceError",
    "SimulationError",
    "Strategy",
    "StrategyError",
    "SweepError",
    "__version__",
    "build_layout",
    "builtin_names",
    "load_scenario",
    "register_strategy",
    "run",
    "write_results",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ersgrid' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Face(types.ModuleType):
    """The package module: ``ersgrid.run`` stays the function when the subpackage loads.

    Importing ``ersgrid.run.runner`` makes the import system set the attribute ``run`` of this
    package to the subpackage ``ersgrid.run``; the public name is the function, so that one
    assignment is not kept (the subpackage stays in ``sys.modules``, where imports find it).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "run" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Face
