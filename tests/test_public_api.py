"""The public API is what ``ersgrid.__all__`` says, and every name in it exists."""

from __future__ import annotations

import ersgrid


def test_all_names_exist_and_are_sorted() -> None:
    for name in ersgrid.__all__:
        assert hasattr(ersgrid, name), name
    assert list(ersgrid.__all__) == sorted(ersgrid.__all__)


def test_core_entry_points() -> None:
    assert {"load_scenario", "run", "ErsgridError", "Strategy", "Scenario"} <= set(ersgrid.__all__)


def test_one_exception_tree() -> None:
    for name in ersgrid.__all__:
        obj = getattr(ersgrid, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, ersgrid.ErsgridError), name
