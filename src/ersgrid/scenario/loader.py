"""Load scenarios from YAML files or the built-in set, and turn every failure into a clear error."""

from __future__ import annotations

import copy
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ersgrid.errors import ScenarioError
from ersgrid.scenario.schema import Scenario

__all__ = [
    "apply_overrides",
    "builtin_names",
    "describe_builtins",
    "dump_scenario",
    "load_scenario",
    "parse_scenario",
    "resolve_paths",
]

_BUILTIN_PACKAGE = "ersgrid.scenario.builtin"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it (the same documents, ~10x faster to parse)."""


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with ersgrid, sorted."""
    files = resources.files(_BUILTIN_PACKAGE).iterdir()
    return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))


def _builtin_text(name: str) -> str:
    return resources.files(_BUILTIN_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def describe_builtins() -> dict[str, str]:
    """One-line description of each built-in scenario, by name."""
    return {name: load_scenario(name).description for name in builtin_names()}


def _format_validation(err: ValidationError, origin: str) -> str:
    lines = [f"{origin}: {err.error_count()} problem(s) in the scenario:"]
    for item in err.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        kind = item["type"]
        if kind == "extra_forbidden":
            message = "unknown key (check the spelling; `ersgrid scenario-doc` lists every field)"
        elif kind == "missing":
            message = "required field is missing"
        else:
            message = item["msg"].removeprefix("Value error, ")
            if (
                "input" in item
                and kind not in ("model_type",)
                and not isinstance(item["input"], dict | list)
            ):
                message += f" (got {item['input']!r})"
        lines.append(f"  - {path}: {message}")
    return "\n".join(lines)


def _marks_file(item: Any) -> bool:
    """Whether a field's annotation or metadata carries the ``FilePath`` mark."""
    extra = getattr(item, "json_schema_extra", None)
    if isinstance(extra, dict) and extra.get("file"):
        return True
    return any(_marks_file(m) for m in getattr(item, "metadata", ()) or ()) or any(
        _marks_file(a) for a in typing.get_args(item)
    )


def _is_file_field(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields[name]
    return _marks_file(field) or _marks_file(field.annotation)


def _network_is_path(value: str) -> bool:
    return value.lower().endswith(".json") or "/" in value or "\\" in value


def resolve_paths(scenario: Scenario, base: Path) -> Scenario:
    """The scenario with every relative file path taken from ``base`` (the scenario file's
    folder): price files, traffic counts, measured plants and a network's JSON file."""

    def walk(node: Any) -> None:
        if isinstance(node, BaseModel):
            cls = type(node)
            for name in cls.model_fields:
                value = getattr(node, name)
                if isinstance(value, str) and value and _is_file_field(cls, name):
                    path = Path(value).expanduser()
                    if not path.is_absolute():
                        setattr(node, name, str((base / path).resolve()))
                else:
                    walk(value)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)

    out = scenario.model_copy(deep=True)
    walk(out)
    if out.grid is not None and _network_is_path(out.grid.network):
        path = Path(out.grid.network).expanduser()
        if not path.is_absolute():
            out.grid.network = str((base / path).resolve())
    return out


def parse_scenario(data: Any, origin: str = "scenario", base: Path | None = None) -> Scenario:
    """Validate a scenario given as plain data (the parsed YAML).

    Parameters
    ----------
    data : Any
        Parsed YAML: a mapping of the scenario's fields.
    origin : str
        Where the data came from, named in error messages.
    base : Path, optional
        Folder relative file paths in the scenario are taken from (the scenario file's);
        the working directory if omitted.

    Raises
    ------
    ScenarioError
        Naming each field that breaks a rule.
    """
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{origin}: a scenario is a YAML mapping of fields, got {type(data).__name__}"
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(_format_validation(err, origin)) from None
    return resolve_paths(scenario, Path.cwd() if base is None else base)


def _read_yaml(text: str, origin: str) -> Any:
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError(f"{origin}: not valid YAML{where}: {problem}") from None


def load_scenario(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load a built-in scenario by name or a scenario YAML file by path.

    Every relative file path in the scenario (and in ``overrides``) is taken from the folder
    of the scenario file (for a built-in, the folder of the built-in scenarios), not from the
    working directory.

    Parameters
    ----------
    name_or_path : str or Path
        A built-in name (see :func:`builtin_names`) or the path of a YAML file.
    overrides : dict, optional
        Values to set before validation, by dotted field path
        (e.g. ``{"traffic.daily_volume": 40000, "road.sections.0.length_km": 30}``).

    Raises
    ------
    ScenarioError
        If the name is unknown, the file cannot be read or parsed, or a field is invalid.
    """
    text: str
    origin: str
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in builtin_names():
        text, origin = _builtin_text(name_or_path), f"built-in scenario {name_or_path!r}"
        base = Path(str(resources.files(_BUILTIN_PACKAGE)))
    elif path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ScenarioError(f"scenario file {str(path)!r} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ScenarioError(f"cannot read scenario file {str(path)!r}: {err}") from None
        origin = str(path)
        base = path.resolve().parent
    else:
        raise ScenarioError(
            f"unknown scenario {str(name_or_path)!r}: not a built-in "
            f"({', '.join(builtin_names())}) and no such .yaml file"
        )
    data = _read_yaml(text, origin)
    if overrides:
        data = apply_overrides(data, overrides, origin)
    return parse_scenario(data, origin, base)


def apply_overrides(data: Any, overrides: dict[str, Any], origin: str = "scenario") -> Any:
    """Return a copy of parsed scenario data with values set at dotted field paths.

    Raises
    ------
    ScenarioError
        If a path does not lead to an existing field.
    """
    data = copy.deepcopy(data)
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        node = data
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            here = ".".join(keys[: depth + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ScenarioError(
                        f"{origin}: override {dotted!r}: {here!r} is not an index of a list "
                        f"of {len(node)}"
                    )
                if last:
                    node[int(key)] = value
                else:
                    node = node[int(key)]
            elif isinstance(node, dict):
                if key not in node and not last:
                    raise ScenarioError(f"{origin}: override {dotted!r}: no field {here!r}")
                if last:
                    node[key] = value
                else:
                    node = node[key]
            else:
                raise ScenarioError(f"{origin}: override {dotted!r}: {here!r} is not a field")
    return data


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as YAML text, with every default filled in (the resolved scenario)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
