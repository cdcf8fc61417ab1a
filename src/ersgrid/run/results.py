"""The results folder of a run: KPIs, time series, trips, the resolved scenario, the report."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from ersgrid.errors import ErsgridError
from ersgrid.run.runner import RunResult
from ersgrid.scenario.loader import dump_scenario

__all__ = ["RESULT_FILES", "json_safe", "write_results"]

RESULT_FILES = (
    "kpis.json", "timeseries.parquet", "trips.parquet", "passes.parquet", "scenario.yaml",
    "report.html",
)  # fmt: skip


def json_safe(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _write_ledger(result: RunResult, out: Path) -> None:
    """Write the run's ledger (ledger.sqlite, keys/, chain/) and add its KPIs."""
    try:
        from ersgrid.ledger.run_ledger import write_run_ledger
    except ImportError as err:
        raise ErsgridError(
            f"writing the run's ledger needs {err.name!r}: pip install 'ersgrid[ledger,chain]'"
        ) from None

    world = result.world
    summary = write_run_ledger(
        result.scenario, world.layout, world.index, result.passes, out, world.price_per_kwh
    )
    result.kpis["ledger_records"] = summary.records
    result.kpis["ledger_blocks"] = summary.blocks
    result.kpis["settlement_balanced"] = summary.settlement_balanced
    result.kpis["ledger_wall_time_s"] = round(summary.wall_time_s, 3)


def write_results(result: RunResult, out: Path, ledger: bool = True) -> Path:
    """Write every result file of a run into ``out`` (created if needed) and return it.

    Files: ``kpis.json``, ``timeseries.parquet`` (planning step, tz-aware), ``trips.parquet``,
    ``passes.parquet`` (metered vehicle × segment passes), ``scenario.yaml`` (resolved) and
    ``report.html`` (self-contained); with ``ledger``, the signed ledger too (``ledger.sqlite``,
    ``keys/``, ``chain/``: see docs/ledger.md).
    """
    from ersgrid.report.html import write_report

    try:
        out.mkdir(parents=True, exist_ok=True)
        if ledger:
            _write_ledger(result, out)
        (out / "kpis.json").write_text(
            json.dumps(json_safe(result.kpis), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        result.timeseries.to_parquet(out / "timeseries.parquet")
        result.trips.to_parquet(out / "trips.parquet", index=False)
        result.passes.to_parquet(out / "passes.parquet", index=False)
        (out / "scenario.yaml").write_text(dump_scenario(result.scenario), encoding="utf-8")
        if result.dr:
            events = [dataclasses.asdict(p) for p in result.dr]
            (out / "dr_events.json").write_text(
                json.dumps(json_safe(events), indent=2) + "\n", encoding="utf-8"
            )
        write_report([result], out / "report.html")
    except OSError as err:
        raise ErsgridError(f"cannot write results to {str(out)!r}: {err}") from None
    return out
