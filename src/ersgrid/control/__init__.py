"""Control: strategies that set the road's charging power each planning step."""

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
from ersgrid.control.registry import STRATEGIES, make_strategy, register_strategy
from ersgrid.control.uncontrolled import Uncontrolled

__all__ = [
    "STRATEGIES",
    "Dispatch",
    "Observation",
    "RunContext",
    "Strategy",
    "Uncontrolled",
    "make_strategy",
    "register_strategy",
]
