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


def test_grid_and_sweep_errors_and_the_results_writer_are_on_the_face() -> None:
    from ersgrid.errors import GridError, SweepError
    from ersgrid.results import write_results

    assert {"GridError", "SweepError", "write_results"} <= set(ersgrid.__all__)
    assert ersgrid.GridError is GridError
    assert ersgrid.SweepError is SweepError
    assert ersgrid.write_results is write_results


def test_the_package_loads_lazily_and_run_stays_the_function() -> None:
    """In a fresh interpreter: ``import ersgrid`` loads no numerical package, and loading the
    subpackage ``ersgrid.run`` (which the import system would bind as ``ersgrid.run``) leaves
    ``ersgrid.run`` the function."""
    import subprocess
    import sys

    code = (
        "import sys, ersgrid\n"
        "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))\n"
        "import ersgrid.run.runner\n"
        "runner = sys.modules['ersgrid.run.runner']\n"
        "assert ersgrid.run is runner.run, ersgrid.run\n"
        "assert ersgrid.RunResult is runner.RunResult\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
