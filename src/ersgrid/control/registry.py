"""Find strategies by name, a preset of ``mpc`` as ``mpc:<preset>``, and a researcher's own
strategy as ``package.module:ClassName``."""

from __future__ import annotations

from ersgrid.control.base import Strategy
from ersgrid.control.mpc import MPC, DecomposedMPC, ExpectedMPC
from ersgrid.control.mpc_settings import MPC_PRESETS
from ersgrid.control.oracle import Oracle
from ersgrid.control.tou import TimeOfUse
from ersgrid.control.uncontrolled import Uncontrolled
from ersgrid.errors import StrategyError
from ersgrid.plugins import load_subclass

__all__ = ["STRATEGIES", "make_strategy", "register_strategy", "strategy_names"]

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Uncontrolled, TimeOfUse, MPC, DecomposedMPC, ExpectedMPC, Oracle)
}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Register a strategy class under its ``name`` (usable as a decorator)."""
    STRATEGIES[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    """Every built-in name, presets included (``mpc:every-step``, ...), sorted."""
    names = set(STRATEGIES)
    for name, cls in STRATEGIES.items():
        if issubclass(cls, MPC):
            names.update(f"{name}:{preset}" for preset in MPC_PRESETS)
    return sorted(names)


def make_strategy(name: str) -> Strategy:
    """A fresh strategy by built-in name, ``<mpc strategy>:<preset>`` (e.g. ``mpc:every-step``,
    ``mpc-decomposed:large-corridor``; see :data:`~ersgrid.control.mpc_settings.MPC_PRESETS`)
    or ``package.module:ClassName``.

    Raises
    ------
    StrategyError
        If the name or the preset is unknown, or the class cannot be loaded.
    """
    if name in STRATEGIES:
        return STRATEGIES[name]()
    base, sep, preset = name.partition(":")
    if sep and base in STRATEGIES:  # a built-in name wins over a module of the same name
        cls = STRATEGIES[base]
        if not issubclass(cls, MPC):
            raise StrategyError(
                f"strategy {base!r} has no presets; presets belong to mpc, mpc-decomposed and "
                "mpc-expected"
            )
        if preset not in MPC_PRESETS:
            raise StrategyError(
                f"unknown preset {preset!r} of {base}; presets: {', '.join(MPC_PRESETS)}"
            )
        strategy: Strategy = cls(preset)
        return strategy
    if sep:
        loaded: Strategy = load_subclass(name, Strategy, "strategy", StrategyError)()
        return loaded
    raise StrategyError(
        f"unknown strategy {name!r}; built-in: {', '.join(sorted(STRATEGIES))} (mpc ones also "
        f"as <name>:<preset>, presets {', '.join(MPC_PRESETS)}), or give your own as "
        "package.module:ClassName"
    )
