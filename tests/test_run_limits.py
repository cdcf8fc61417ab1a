"""Values that pass a schema's types but cannot run are refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ersgrid.cli import app
from ersgrid.scenario.loader import _builtin_text


def _scenario(tmp_path: Path, edit: dict[str, object]) -> Path:
    data = yaml.safe_load(_builtin_text("tiny"))
    for dotted, value in edit.items():
        node = data
        *keys, last = dotted.split(".")
        for key in keys:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "args", "message"),
    [
        ({"traffic.daily_volume": 1e9}, [], "traffic.daily_volume: Input should be less than"),
        (
            {"substations.0.rating_kw": float("inf")},
            [],
            "substations.0.rating_kw: Input should be a finite number",
        ),
        ({"road.sections.0.rating_kw": float("nan")}, [], "road.sections.0.rating_kw"),
        ({"simulation.start": "1800-01-01"}, [], "start 1800-01-01: a run covers the years"),
        ({}, ["--start", "1800-01-01"], "start 1800-01-01: a run covers the years"),
        ({}, ["--days", "100000"], "days = 100000: a run covers at most 3660 days"),
        (
            {"traffic.daily_volume": 900_000},
            ["--days", "3000"],
            "ERS vehicles, more than one run holds",
        ),
    ],
)
def test_a_run_that_cannot_be_simulated_exits_2_naming_the_field(
    tmp_path: Path, edit: dict[str, object], args: list[str], message: str
) -> None:
    path = _scenario(tmp_path, edit)
    result = CliRunner().invoke(app, ["run", str(path), "-q", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()  # refused before anything ran or was written
