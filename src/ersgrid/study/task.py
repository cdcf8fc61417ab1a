"""One run of a sweep as it executes on a worker: run, stream results to disk, return a row.

The task writes the run's own results folder through the writer its caller hands it (the
study layer writes no results folder of its own: the face that starts the sweep passes
:func:`ersgrid.results.write_results`, a module-level function that Dask ships to the
workers by reference), then its row (``row.json``) last and atomically (written to a
temporary name, then renamed). A run counts as finished exactly when its
``row.json`` exists, so a sweep killed at any moment resumes by re-running only the runs with
no row. Only the row (a few hundred bytes) travels back to the client: time series stay on
the worker's disk, so a worker's memory is bounded by one run, whatever the sweep's size.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import socket
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ersgrid.errors import ErsgridError
from ersgrid.jsonsafe import json_safe
from ersgrid.study.grid import RunSpec

if TYPE_CHECKING:
    from ersgrid.run.runner import RunResult

__all__ = ["ROW_FILE", "RUNS_DIR", "ResultsWriter", "execute_run", "read_row", "run_dir"]


class ResultsWriter(Protocol):
    """Writes a run's results folder: ``writer(result, folder, ledger=...)`` returns it
    (:func:`ersgrid.results.write_results` is one)."""

    def __call__(self, result: RunResult, folder: Path, *, ledger: bool) -> Path: ...


RUNS_DIR = "runs"
"""Sub-folder of a sweep's ``--out`` holding one folder per run, named by run id."""

ROW_FILE = "row.json"
"""The run's row: written last, its presence marks the run as finished."""


def run_dir(out: Path, run_id: str) -> Path:
    """The folder of one run inside a sweep's output folder."""
    return out / RUNS_DIR / run_id


def read_row(out: Path, run_id: str) -> dict[str, Any] | None:
    """The stored row of a finished run, or None if the run has not finished.

    A row file that cannot be parsed (e.g. a disk filled up while writing it) counts as not
    finished, so the run is done again.
    """
    path = run_dir(out, run_id) / ROW_FILE
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _scalar_kpis(kpis: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The KPIs that fit a table cell; a nested mapping becomes ``outer.inner`` columns."""
    skip = {"scenario", "strategy", "start", "days"}
    flat: dict[str, Any] = {}
    for key, value in kpis.items():
        if not prefix and key in skip:
            continue
        if isinstance(value, bool | int | float | str | None):
            flat[prefix + key] = value
        elif isinstance(value, dict):
            flat |= _scalar_kpis(value, f"{prefix}{key}.")
    return flat


def execute_run(
    spec: RunSpec, out: str, ledger: bool = False, writer: ResultsWriter | None = None
) -> dict[str, Any]:
    """Run one sweep point, write its results folder (with a ``writer``) and row; return the row.

    A run that raises is recorded with ``status = "failed"``, the error's type and message,
    and the traceback in ``error.txt``; it does not raise, so one bad run never stops a
    sweep. A run whose row already exists is not run again (the stored row is returned).

    Parameters
    ----------
    spec : RunSpec
        The run (resolved scenario, strategy, days).
    out : str
        The sweep's output folder, as seen from the worker.
    ledger : bool
        Also write the run's signed ledger into its results folder.
    writer : ResultsWriter, optional
        Writes the run's results folder (``runs/<id>/results``); without one, only the row
        is kept.

    Returns
    -------
    dict
        ``run_id``, ``status`` (``ok``/``failed``), ``error_type``, ``error``, ``strategy``,
        the parameters by dotted path, the run's scalar KPIs, ``wall_time_s`` [s] and
        ``cpu_time_s`` [s] of the run with its writing,
        ``worker`` (host:pid), ``worker_peak_rss_mb`` [MB] and ``results`` (folder relative
        to ``out``; None for a failed run or without a ``writer``).
    """
    from ersgrid.run.runner import run

    base = Path(out)
    done = read_row(base, spec.run_id)
    if done is not None:
        return done
    folder = run_dir(base, spec.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    t0, cpu0 = time.perf_counter(), time.process_time()
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "status": "ok",
        "error_type": None,
        "error": None,
        "strategy": spec.strategy,
        **spec.params,
    }
    try:
        start = dt.date.fromisoformat(spec.start) if spec.start else None
        result = run(spec.scenario, spec.strategy, days=spec.days, start=start)
        if writer is not None:
            writer(result, folder / "results", ledger=ledger)
        row |= _scalar_kpis(result.kpis)
    except Exception as err:  # every failure of a run is recorded
        kind = "ersgrid" if isinstance(err, ErsgridError) else "bug"
        row |= {"status": "failed", "error_type": type(err).__name__, "error": str(err)}
        (folder / "error.txt").write_text(
            f"{kind} error in run {spec.run_id}\n{traceback.format_exc()}", encoding="utf-8"
        )
    row["wall_time_s"] = round(time.perf_counter() - t0, 3)
    row["cpu_time_s"] = round(time.process_time() - cpu0, 3)  # < wall when the CPU is shared
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    # Peak resident memory of the worker process so far [MB] (Linux reports KiB): it stays
    # flat over a sweep because each run's results leave memory once written.
    row["worker_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    row["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    wrote = row["status"] == "ok" and writer is not None
    row["results"] = f"{RUNS_DIR}/{spec.run_id}/results" if wrote else None
    row = json_safe(row)
    _write_atomic(folder / ROW_FILE, json.dumps(row, ensure_ascii=False, indent=1) + "\n")
    return row
