"""Scenario model: the typed schema, the loader and the built-in scenarios."""

from ersgrid.scenario.layout import Layout, build_layout
from ersgrid.scenario.loader import (
    apply_overrides,
    builtin_names,
    describe_builtins,
    dump_scenario,
    load_scenario,
    parse_scenario,
)
from ersgrid.scenario.schema import Scenario

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
