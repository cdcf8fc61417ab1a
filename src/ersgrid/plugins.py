"""Load a user's class given as ``package.module:ClassName`` (strategies, forecast models)."""

from __future__ import annotations

import importlib
from typing import Any

from ersgrid.errors import ErsgridError

__all__ = ["load_subclass"]


def load_subclass(spec: str, base: type[Any], what: str, error: type[ErsgridError]) -> type[Any]:
    """The class named by ``spec`` (``package.module:ClassName``), checked to subclass ``base``.

    Raises
    ------
    error
        Naming ``what`` and ``spec`` when the class cannot be imported or is not a ``base``.
    """
    module_name, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise error(f"cannot load {what} {spec!r}: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise error(f"{what} {spec!r} is not a subclass of {base.__module__}.{base.__qualname__}")
    return cls
