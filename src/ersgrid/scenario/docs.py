"""Generate the scenario format reference from the schema (so docs and code cannot drift)."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ersgrid.scenario.schema import Scenario

__all__ = ["schema_markdown"]


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_of(arg))
    return found


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return " \\| ".join(str(m.value) for m in annotation)
        return annotation.__name__
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return str(annotation)


def _bounds(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
        for attr, label in (("min_length", "min items"), ("max_length", "max items")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{label} {value}")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        try:
            return f"`{info.default_factory()}`"  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
    if info.default is PydanticUndefined:
        return ""
    value = info.default
    return f"`{value.value if isinstance(value, enum.Enum) else value}`"


def schema_markdown() -> str:
    """The scenario format as Markdown: one table per model, every field with unit and bounds."""
    lines = [
        "# Scenario format",
        "",
        "Generated from the schema by `ersgrid scenario-doc`; do not edit by hand.",
        "Units are in field names and descriptions; unknown keys are errors.",
        "",
    ]
    seen: set[type[BaseModel]] = set()
    queue: list[tuple[str, type[BaseModel]]] = [("(top level)", Scenario)]
    while queue:
        path, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        doc = (model.__doc__ or "").strip().splitlines()[0]
        lines += [f"## `{path}` — {model.__name__}", "", doc, ""]
        lines += ["| field | type | bounds | default | description |", "|---|---|---|---|---|"]
        for name, info in model.model_fields.items():
            desc = (info.description or "").replace("|", "\\|")
            lines.append(
                f"| `{name}` | {_type_name(info.annotation)} | {_bounds(info)} | "
                f"{_default(info)} | {desc} |"
            )
            for sub in _models_of(info.annotation):
                child = name if path == "(top level)" else f"{path}.{name}"
                queue.append((child, sub))
        lines.append("")
    return "\n".join(lines)
