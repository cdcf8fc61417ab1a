"""Scenario model: the typed schema, the loader and the built-in scenarios.

``Layout`` and ``build_layout`` (array-built, numpy) are loaded on first use, so that reading
and validating a scenario needs no numerical stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ersgrid.scenario.loader import (
    apply_overrides,
    builtin_names,
    describe_builtins,
    dump_scenario,
    load_scenario,
    parse_scenario,
)
from ersgrid.scenario.schema import Scenario

if TYPE_CHECKING:
    from ersgrid.scenario.layout import Layout, build_layout

__all__ = [
    "Layout",
    "Scenario",
    "apply_overrides",
    "build_layout",
    "builtin_names",
    "describe_builtins",
    "dump_scenario",
    "load_scenario",
    "parse_scenario",
]


def __getattr__(name: str) -> Any:
    if name in ("Layout", "build_layout"):
        from ersgrid.scenario import layout

        return getattr(layout, name)
    raise AttributeError(f"module 'ersgrid.scenario' has no attribute {name!r}")
