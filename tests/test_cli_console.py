"""What the console shows: units kept, tables within 80 columns, numbers at their resolution,
progress without a terminal, and a command line that imports no numerical package to answer
``--help`` or ``scenarios``."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from ersgrid.cli import app
from ersgrid.cli.console import PlainProgress, fit_tables, format_value, print_json, resolution

HEAVY = (
    "numpy", "pandas", "scipy", "numba", "plotly", "pandapower", "pyarrow", "sklearn",
    "lightgbm", "highspy", "pvlib", "web3", "vyper", "dask", "distributed", "fastapi",
    "sqlalchemy", "cryptography",
)  # fmt: skip


def test_the_cli_answers_help_and_scenarios_without_the_numerical_stack() -> None:
    """Import the command line, ask every command for its help and list the scenarios, all in
    a fresh interpreter; then none of the heavy packages may have been imported."""
    code = textwrap.dedent(
        f"""
        import sys
        from typer.testing import CliRunner
        from ersgrid.cli import app

        after_import = sorted(m for m in {HEAVY!r} if m in sys.modules)
        runner = CliRunner()
        commands = [[], ["run"], ["compare"], ["validate"], ["scenarios"], ["scenario-doc"],
                    ["export"], ["reserve"], ["outage"], ["sweep"], ["serve"], ["ledger"],
                    ["ledger", "verify"], ["ledger", "statements"], ["dr"], ["dr", "run"],
                    ["forecast"], ["forecast", "backtest"]]
        for command in commands:
            res = runner.invoke(app, [*command, "--help"])
            assert res.exit_code == 0 and "Usage" in res.output, (command, res.output)
        after_help = sorted(m for m in {HEAVY!r} if m in sys.modules)
        rich_for_help = "rich" in sys.modules  # help is plain text: rich only for results
        res = runner.invoke(app, ["scenarios"])
        assert res.exit_code == 0 and "shin-tomei" in res.output, res.output
        after_scenarios = sorted(m for m in {HEAVY!r} if m in sys.modules)
        engines = sorted(m for m in sys.modules if m.split(".")[:2] in (
            ["ersgrid", "twin"], ["ersgrid", "grid"], ["ersgrid", "forecast"],
            ["ersgrid", "optimize"], ["ersgrid", "market"], ["ersgrid", "ledger"],
            ["ersgrid", "run"], ["ersgrid", "control"]))
        print(repr((after_import, after_help, after_scenarios, engines, rich_for_help)))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    after_import, after_help, after_scenarios, engines, rich_for_help = eval(last)
    assert after_import == [], "imported by `import ersgrid.cli`"
    assert after_help == [], "imported to answer --help"
    assert after_scenarios == [], "imported by `ersgrid scenarios`"
    assert engines == [], "`ersgrid scenarios` must not import the engines"
    assert not rich_for_help


def test_help_texts_keep_their_units() -> None:
    res = CliRunner().invoke(app, ["outage", "--help"])
    assert res.exit_code == 0
    assert "[h]" in res.output  # "Length of the outage [h]."
    res = CliRunner().invoke(app, ["dr", "run", "--help"])
    assert "[s]" in res.output  # "Longest wait for the events [s]."


@pytest.mark.parametrize(
    ("value", "key", "shown"),
    [
        (2.132e-14, "energy_delivered_kwh", "0"),
        (-3.0e-12, "peak_import_kw", "0"),
        (0.0, "co2_kg", "0"),
        (12_345.678, "grid_import_kwh", "12,346"),
        (61.8349, "grid_export_kwh", "61.83"),
        (0.0123456, "losses_kwh", "0.012"),
        (0.98765, "min_voltage_pu", "0.9877"),
        (0.00004, "min_voltage_pu", "0"),
        (70.7345, "max_loading_pct", "70.73"),
        (0.004, "energy_cost", "0"),
        (12.3456, "energy_cost", "12.35"),
        (0.82123, "renewable_share", "0.8212"),
        (1_000, "trips", "1,000"),
        (True, "settlement_balanced", "yes"),
        (math.nan, "energy_cost", "–"),
        (None, "objective", ""),
        ("tiny", "scenario", "tiny"),
    ],
)
def test_values_are_rounded_to_their_resolution(value: object, key: str, shown: str) -> None:
    assert format_value(value, key) == shown


@given(
    value=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    key=st.sampled_from(["x_kwh", "x_kw", "x_pu", "x_pct", "energy_cost", "renewable_share"]),
)
def test_a_shown_value_is_the_value_within_its_resolution(value: float, key: str) -> None:
    text = format_value(value, key)
    assert "e" not in text.lower(), text  # never exponent notation
    shown = float(text.replace(",", ""))
    mag = math.floor(math.log10(abs(value))) if value else 0
    tolerance = max(resolution(key), 10.0 ** (mag - 3), 1.0 if abs(value) >= 99.5 else 0.0)
    assert abs(shown - value) <= tolerance * (1 + 1e-9), (value, text)


def _render(tables: list[object], width: int) -> str:
    out = Console(width=width, record=True, file=io.StringIO())
    for t in tables:
        out.print(t)
    return out.export_text()


def test_a_kpi_table_of_many_strategies_fits_80_columns_and_keeps_units() -> None:
    from ersgrid.cli.runs import kpi_tables
    from ersgrid.report.html import KPI_LABELS

    names = ["uncontrolled", "tou", "mpc", "oracle", "mpc@flat", "tou@flat", "mpc-decomposed",
             "oracle@flat", "mpc-expected"]  # fmt: skip
    base = {"scenario": "shin-tomei", "days": 1.0, "start": "2035-04-02", "currency": "JPY"}
    kpis = {
        n: {**base, **{key: (i + 1) * 1234.5678 * 10.0 ** (j % 5 - 2)
                       for j, key in enumerate(KPI_LABELS)}}
        for i, n in enumerate(names)
    }  # fmt: skip
    kpis["tou"]["energy_delivered_kwh"] = 2.132e-14
    text = _render(list(kpi_tables(kpis, width=80)), 80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    for unit in ("[kWh]", "[kW]", "[kg]", "[p.u.]", "[JPY]", "[%]"):
        assert unit in text, unit
    assert "e-14" not in text
    for n in names:  # every strategy is shown, its name whole
        assert any(n in line for line in lines), n
    for n in names:  # and every number whole on one line
        for key in ("grid_import_kwh", "objective"):
            assert any(format_value(kpis[n][key], key) in line for line in lines)


def test_fit_tables_splits_columns_and_repeats_the_labels() -> None:
    columns = {f"case {i}": ["1,234,567.0", "yes"] for i in range(9)}
    tables = fit_tables("t [MW]", "quantity", ["reserve [MW]", "compliant"], columns, width=80)
    assert len(tables) > 1
    text = _render(list(tables), 80)
    assert text.count("reserve [MW]") == len(tables)
    assert max(len(line) for line in text.splitlines()) <= 80


def test_plain_progress_says_a_line_every_few_percent(capsys: pytest.CaptureFixture[str]) -> None:
    tick = PlainProgress(every_pct=5.0).task("tiny / mpc")
    for done in range(97):
        tick(done, 96)
    tick(96, 96)  # a repeated last call says nothing more
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "tiny / mpc: started"
    assert 20 <= len(lines) - 1 <= 22
    assert lines[-1].startswith("tiny / mpc: 100 % (96/96 steps")
    pcts = [int(line.split(":")[1].split("%")[0]) for line in lines[1:]]
    assert pcts == sorted(pcts)


def test_print_json_writes_valid_json_for_nan_and_numpy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import numpy as np

    print_json({"a": math.nan, "b": np.float64(1.5), "c": np.int64(3), "d": [math.inf]})
    assert json.loads(capsys.readouterr().out) == {"a": None, "b": 1.5, "c": 3, "d": [None]}


def test_validate_and_scenarios_print_json_only() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["validate", "tiny", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["ok"] is True
    assert data["scenario"] == "tiny"
    assert data["substations"] == 1
    res = runner.invoke(app, ["scenarios", "--json"])
    assert res.exit_code == 0
    assert {"shin-tomei", "e20", "tiny"} <= set(json.loads(res.stdout))
