"""The results folder of a run (and of a comparison): KPIs, time series, trips, the resolved
scenario, the report and the signed ledger, replaced as a whole (see
:mod:`ersgrid.results.folder`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ersgrid.errors import ErsgridError
from ersgrid.jsonsafe import json_safe
from ersgrid.results.export import export_folder
from ersgrid.results.folder import replacing

if TYPE_CHECKING:
    from ersgrid.run.runner import RunResult

__all__ = ["COMPARE_FILES", "RESULT_FILES", "write_comparison", "write_results"]

RESULT_FILES = (
    "kpis.json", "timeseries.parquet", "trips.parquet", "passes.parquet", "scenario.yaml",
    "report.html", "end_state.npz",
)  # fmt: skip
"""Files of every run's results folder (the ledger's and the exports come beside them)."""

COMPARE_FILES = ("compare.json", "report.html")
"""Files at the top of a comparison's folder (each strategy's results folder beside them)."""

_MARKERS = ("kpis.json", "compare.json")


def _write_ledger(result: RunResult, out: Path) -> None:
    """Write the run's ledger (``ledger.sqlite``, ``trust.json``, ``keys/``) at the run's
    prices and add its KPIs."""
    try:
        from ersgrid.ledger.run_ledger import ConnectionMeters, write_run_ledger
    except ImportError as err:
        raise ErsgridError(
            f"writing the run's ledger needs {err.name!r}: pip install 'ersgrid[ledger,chain]'"
        ) from None

    world, h = result.world, result.world.step_h
    meters = ConnectionMeters(
        import_kwh=result.import_kw * h,
        export_kwh=result.export_kw * h,
        renewable_kwh=(result.energy.renewable_kw - result.curtailed_kw) * h,
    )
    summary = write_run_ledger(
        result.scenario, world.layout, world.index, result.passes, out, world.price_per_kwh,
        world.user_price_per_kwh, meters,
    )  # fmt: skip
    result.kpis["ledger_records"] = summary.records
    result.kpis["ledger_blocks"] = summary.blocks
    result.kpis["settlement_balanced"] = summary.settlement_balanced
    result.kpis["ledger_wall_time_s"] = round(summary.wall_time_s, 3)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(
        json.dumps(json_safe(value), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _write_run(result: RunResult, out: Path, ledger: bool) -> None:
    """Every file of one run into ``out`` (a folder being written, not yet in place)."""
    from ersgrid.report.html import write_report
    from ersgrid.scenario.loader import dump_scenario

    out.mkdir(parents=True, exist_ok=True)
    if ledger:
        _write_ledger(result, out)
    result.timeseries.to_parquet(out / "timeseries.parquet")
    result.trips.to_parquet(out / "trips.parquet", index=False)
    result.passes.to_parquet(out / "passes.parquet", index=False)
    (out / "scenario.yaml").write_text(dump_scenario(result.scenario), encoding="utf-8")
    if result.dr:
        _write_json(out / "dr_events.json", [dataclasses.asdict(p) for p in result.dr])
    from ersgrid.results.economics import economics_of, write_economics

    try:
        economics = economics_of(result.scenario, result.kpis, out)
    except ErsgridError as err:  # e.g. no exchange rate: the run's results stand without it
        result.kpis["economics_not_computed"] = str(err)
    else:
        write_economics(out, economics)
        result.kpis |= economics.kpis()
    write_report([result], out / "report.html")
    if result.end_state is not None:
        from ersgrid.results.end_state import END_STATE_FILE, write_end_state

        write_end_state(result.end_state, out / END_STATE_FILE)
    _write_json(out / "kpis.json", result.kpis)


def write_results(
    result: RunResult,
    folder: str | Path,
    *,
    ledger: bool = True,
    export: Sequence[str] = (),
    also: Callable[[Path], None] | None = None,
) -> Path:
    """Write every result file of a run into ``folder``, replacing it as a whole; return it.

    Files: ``kpis.json``, ``timeseries.parquet`` (planning step, tz-aware), ``trips.parquet``,
    ``passes.parquet`` (metered vehicle × segment passes), ``scenario.yaml`` (resolved),
    ``report.html`` (self-contained), ``economics.json`` (when the scenario's costs can be
    priced: otherwise the KPI ``economics_not_computed`` says why), ``end_state.npz`` (where
    the run ended, to continue it: :func:`ersgrid.results.end_state.read_end_state`) and,
    after a demand-response run, ``dr_events.json``; with ``ledger``, the signed ledger too
    (``ledger.sqlite``, ``trust.json``, ``keys/``: see docs/ledger.md), whose figures are
    added to ``result.kpis``.

    The files are written into a temporary folder beside ``folder``, which then takes its
    place: an interrupted write leaves the previous results as they were, and never a folder
    that looks complete.

    Parameters
    ----------
    result : RunResult
        What :func:`ersgrid.run` returned.
    folder : str or Path
        The results folder: absent, empty, or an earlier results folder (any other folder is
        refused).
    ledger : bool
        Also write, settle and anchor the run's signed ledger (the slowest part).
    export : sequence of str
        Also write the KPIs, time series and trips as ``csv`` and/or ``xlsx``
        (see :func:`ersgrid.results.export.export_folder`).
    also : callable, optional
        ``also(folder)`` writes more files of the face's own into the folder being written
        (e.g. the demand-response events as received), before it is put in place.

    Raises
    ------
    ErsgridError
        If the folder cannot be written or is not a results folder.
    """
    target = Path(folder)
    with replacing(target, _MARKERS) as tmp:
        try:
            _write_run(result, tmp, ledger)
            if also is not None:
                also(tmp)
            if export:
                export_folder(tmp, export)
        except OSError as err:
            raise ErsgridError(f"cannot write results to {str(target)!r}: {err}") from None
    return target


def write_comparison(
    results: Sequence[RunResult],
    folder: str | Path,
    *,
    ledger: bool = True,
    export: Sequence[str] = (),
) -> Path:
    """Write a comparison: one results folder per run (named by ``result.strategy``), one
    report with every run, and ``compare.json`` (the KPIs by strategy); replaced as a whole.

    Parameters
    ----------
    results : sequence of RunResult
        The runs, on the same scenario and days; their ``strategy`` names them.
    folder : str or Path
        As in :func:`write_results`.
    ledger : bool
        Write each run's signed ledger.
    export : sequence of str
        Also write ``csv`` and/or ``xlsx`` copies (each run's, and the KPIs side by side).
    """
    from ersgrid.report.html import write_report

    target = Path(folder)
    runs = list(results)
    names = [r.strategy for r in runs]
    if len(set(names)) != len(names):
        raise ErsgridError(f"a comparison needs distinct run names, got {names}")
    with replacing(target, _MARKERS) as tmp:
        try:
            for result in runs:
                _write_run(result, tmp / result.strategy, ledger)
            write_report(runs, tmp / "report.html")
            _write_json(tmp / "compare.json", {r.strategy: r.kpis for r in runs})
            if export:
                export_folder(tmp, export)
        except OSError as err:
            raise ErsgridError(f"cannot write results to {str(target)!r}: {err}") from None
    return target
