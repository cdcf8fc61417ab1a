"""The parameter grid of a sweep: ``PATH=v1,v2,...`` specs, their product, validated up front.

A parameter is any scenario field, named by its dotted path as in the scenario YAML
(``traffic.daily_volume``, ``road.sections.0.length_km``,
``vehicles.truck.receiver_share``). Every combination of values is applied to the scenario and
validated by the scenario schema before any run starts, so a typo or an out-of-range value
stops the sweep at once with the schema's own message rather than as hundreds of failed runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ersgrid.errors import ScenarioError
from ersgrid.scenario.loader import dump_scenario, load_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import planning_index

__all__ = ["RunSpec", "build_runs", "parse_param", "parse_params"]

ParamValue = bool | int | float | str


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a resolved scenario, a strategy and a length.

    Attributes
    ----------
    run_id : str
        Stable id (12 hex digits) from the resolved scenario, strategy, days and start; the
        same run always gets the same id, which is what lets a sweep resume.
    params : dict
        The swept values of this run by dotted path.
    strategy : str
        Strategy name, as given (looked up on the worker).
    days : float [d]
    start : str or None
        First local day as ``YYYY-MM-DD``, or None for the scenario's own.
    scenario : Scenario
        The scenario with this run's values applied (validated).
    """

    run_id: str
    params: dict[str, ParamValue]
    strategy: str
    days: float
    start: str | None
    scenario: Scenario = field(repr=False, compare=False)


def _parse_value(text: str, spec: str) -> ParamValue:
    text = text.strip()
    if not text:
        raise ScenarioError(f"--param {spec!r}: empty value; separate values by single commas")
    value = yaml.safe_load(text)
    if isinstance(value, bool | int | float | str):
        return value
    raise ScenarioError(
        f"--param {spec!r}: value {text!r} is not a number, true/false or a word; "
        "only scalar fields can be swept"
    )


def parse_param(spec: str) -> tuple[str, list[ParamValue]]:
    """Parse one ``PATH=v1,v2,...`` spec into its path and values.

    Values are read as YAML scalars: ``30`` is an int, ``0.5`` a float, ``true`` a bool,
    anything else a string.

    Raises
    ------
    ScenarioError
        If the spec has no ``=``, no path, an empty value or a repeated value.
    """
    path, sep, values = spec.partition("=")
    path = path.strip()
    if not sep or not path or not values.strip():
        raise ScenarioError(
            f"--param {spec!r}: expected PATH=v1,v2,... with a dotted scenario field path, "
            "e.g. traffic.daily_volume=20000,40000"
        )
    parsed = [_parse_value(v, spec) for v in values.split(",")]
    if len({json.dumps(v) for v in parsed}) != len(parsed):
        raise ScenarioError(f"--param {spec!r}: a value is listed twice")
    return path, parsed


def parse_params(specs: list[str]) -> dict[str, list[ParamValue]]:
    """Parse every ``--param`` spec; a path may be given only once.

    Raises
    ------
    ScenarioError
        If a spec is malformed or a path repeats.
    """
    grid: dict[str, list[ParamValue]] = {}
    for spec in specs:
        path, values = parse_param(spec)
        if path in grid:
            raise ScenarioError(f"--param {path!r} is given twice; list all its values in one")
        grid[path] = values
    return grid


def _run_id(scenario: Scenario, strategy: str, days: float, start: str | None) -> str:
    key = json.dumps(
        {"scenario": dump_scenario(scenario), "strategy": strategy, "days": days, "start": start},
        sort_keys=True,
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def build_runs(
    scenario: str | Path,
    grid: dict[str, list[ParamValue]],
    strategies: list[str],
    days: float,
    start: str | None = None,
) -> list[RunSpec]:
    """Every run of a sweep: the product of the parameter values, times the strategies.

    Each combination is applied to the scenario and validated before this returns; the
    first invalid one raises, naming the combination and the field.

    Parameters
    ----------
    scenario : str or Path
        Built-in scenario name or YAML path.
    grid : dict
        Values by dotted field path (see :func:`parse_params`); empty for a single point.
    strategies : list of str
        Strategy names; an unknown name is not an error here (the run records it).
    days : float [d]
    start : str, optional
        First local day, ``YYYY-MM-DD``.

    Raises
    ------
    ScenarioError
        If a path does not exist, a combination of values breaks a scenario rule, or
        ``days``/``start`` do not make whole planning steps.
    """
    if not strategies:
        raise ScenarioError("a sweep needs at least one strategy (--strategies uncontrolled,...)")
    if len(set(strategies)) != len(strategies):
        raise ScenarioError(f"--strategies {','.join(strategies)}: a strategy is listed twice")
    try:
        first_day = dt.date.fromisoformat(start) if start is not None else None
    except ValueError:
        raise ScenarioError(f"--start {start!r}: expected a date as YYYY-MM-DD") from None
    paths = list(grid)
    runs: list[RunSpec] = []
    for combo in itertools.product(*(grid[p] for p in paths)):
        params = dict(zip(paths, combo, strict=True))
        try:
            resolved = load_scenario(scenario, overrides=dict(params))
        except ScenarioError as err:
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            raise ScenarioError(f"sweep point ({shown}) is invalid:\n{err}") from None
        planning_index(resolved, days, first_day)  # days and start fit this point's steps
        for strategy in strategies:
            runs.append(
                RunSpec(
                    run_id=_run_id(resolved, strategy, days, start),
                    params=params,
                    strategy=strategy,
                    days=days,
                    start=start,
                    scenario=resolved,
                )
            )
    return runs
