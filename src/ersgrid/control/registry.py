"""Find strategies by name, including a researcher's own as ``module:ClassName``."""

from __future__ import annotations

from ersgrid.control.base import Strategy
from ersgrid.control.mpc import MPC, DecomposedMPC, ExpectedMPC
from ersgrid.control.oracle import Oracle
from ersgrid.control.tou import TimeOfUse
from ersgrid.control.uncontrolled import Uncontrolled
from ersgrid.errors import StrategyError
from ersgrid.plugins import load_subclass

__all__ = ["STRATEGIES", "make_strategy", "register_strategy"]

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Uncontrolled, TimeOfUse, MPC, DecomposedMPC, ExpectedMPC, Oracle)
}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Register a strategy class under its ``name`` (usable as a decorator)."""
    STRATEGIES[cls.name] = cls
    return cls


def make_strategy(name: str) -> Strategy:
    """A fresh strategy by built-in name or ``package.module:ClassName``.

    Raises
    ------
    StrategyError
        If the name is unknown or the class cannot be loaded.
    """
    if name in STRATEGIES:
        return STRATEGIES[name]()
    if ":" in name:
        strategy: Strategy = load_subclass(name, Strategy, "strategy", StrategyError)()
        return strategy
    raise StrategyError(
        f"unknown strategy {name!r}; built-in: {', '.join(sorted(STRATEGIES))}, "
        "or give your own as package.module:ClassName"
    )
