"""Run a sweep: one Dask task per run, on a local cluster or an existing Dask scheduler.

The client validates every run first (:func:`ersgrid.study.grid.build_runs`), skips runs whose
row is already on disk (resume), submits the rest as tasks, and writes ``sweep.parquet`` and
``report.html`` from the rows. Robustness comes from Dask where Dask already does it: a task
whose worker dies is rescheduled on another (or the restarted) worker, up to the scheduler's
``distributed.scheduler.allowed-failures`` (3 by default); after that the run is recorded as
failed with ``KilledWorker``. Where Dask does not: a nanny whose worker restart fails (seen
under load) leaves a local cluster with no worker, and the scheduler would wait for one
forever. The client therefore watches the workers while it waits: a local cluster without a
worker for :data:`LOCAL_NO_WORKER_S` is given fresh workers (up to :data:`LOCAL_REVIVALS`
times), and a sweep whose scheduler has had no worker for :data:`NO_WORKER_S` (or whose local
cluster cannot be revived) stops with a :class:`~ersgrid.errors.SweepError` naming what is
missing; the finished runs are on disk and the same command resumes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ersgrid.errors import SweepError
from ersgrid.jsonsafe import json_safe
from ersgrid.study.grid import ParamValue, RunSpec, build_runs
from ersgrid.study.task import ROW_FILE, ResultsWriter, execute_run, read_row, run_dir

__all__ = [
    "LOCAL_NO_WORKER_S", "LOCAL_REVIVALS", "NO_WORKER_S", "SWEEP_FILES", "SweepProgress",
    "SweepResult", "rows_table", "run_sweep",
]  # fmt: skip

LOCAL_NO_WORKER_S = 60.0
"""[s] A local cluster with no worker this long (a nanny restarts a dead worker in seconds)
gets fresh workers."""
LOCAL_REVIVALS = 3
"""Times a local cluster is given fresh workers before the sweep stops."""
NO_WORKER_S = 300.0
"""[s] A sweep on an existing scheduler stops when it has had no worker this long."""

logger = logging.getLogger(__name__)

SWEEP_FILES = ("sweep.json", "sweep.parquet", "report.html")
"""Files a sweep writes at the top of its ``--out`` folder (runs go under ``runs/<id>/``)."""

SweepProgress = Callable[[int, int, dict[str, Any] | None], None]
"""Called as ``progress(finished_runs, total_runs, row)``: first with ``row`` None, then once per
run found finished on disk, then once per run as it finishes."""


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    out : Path
        The sweep's folder.
    table : DataFrame
        ``sweep.parquet``: one row per run, in grid order.
    executed : int
        Runs executed by this call.
    resumed : int
        Runs found finished on disk and not run again.
    wall_time_s : float [s]
    """

    out: Path
    table: pd.DataFrame
    executed: int
    resumed: int
    wall_time_s: float

    @property
    def failed(self) -> int:
        """Number of runs recorded as failed."""
        return int((self.table["status"] != "ok").sum())


@contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[tuple[Any, Any, int]]:
    """Yield ``(client, local cluster or None, workers wanted)``."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError(
            "sweeps run on Dask, which is not installed: pip install 'ersgrid[scale]'"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler)  # waits distributed.comm.timeouts.connect (30 s)
        except (OSError, TimeoutError) as err:
            raise SweepError(
                f"cannot reach the Dask scheduler at {scheduler!r}: {err}; start one with "
                "`dask scheduler` and at least one `dask worker`, or leave out --scheduler"
            ) from None
        try:
            try:
                client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise SweepError(
                    f"the Dask scheduler at {scheduler!r} has no workers after 60 s; start "
                    "one with `dask worker <address> --nthreads 1`"
                ) from None
            yield client, None, 0
        finally:
            client.close()
        return
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise SweepError(f"--workers {n}: need at least one worker")
    # When Dask queues the runs (more runs than twice the worker threads), a worker holds only
    # the run it executes, so a run that kills its worker costs no other run a failure.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # HTTP server on a free port: clusters coexist
            silence_logs=logging.ERROR,
        )
    client = Client(cluster)
    try:
        yield client, cluster, n
    finally:
        client.close()
        cluster.close()


def _failed_row(spec: RunSpec, err: BaseException) -> dict[str, Any]:
    return {
        "run_id": spec.run_id,
        "status": "failed",
        "error_type": type(err).__name__,
        "error": str(err) or repr(err),
        "strategy": spec.strategy,
        **spec.params,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "results": None,
    }


def rows_table(rows: list[dict[str, Any]], param_paths: list[str]) -> pd.DataFrame:
    """The sweep table from run rows: parameters first, then status, then KPIs.

    A parameter column whose values mix types (e.g. numbers and words) is stored as text.
    """
    table = pd.DataFrame(rows)
    first = ["run_id", *param_paths, "strategy", "status", "error_type", "error"]
    for col in first:
        if col not in table.columns:
            table[col] = None
    table = table[first + [c for c in table.columns if c not in first]]
    for path in param_paths:
        kinds = {type(v) for v in table[path] if v is not None}
        if len(kinds) > 1 and not kinds <= {int, float}:
            table[path] = table[path].astype(str)
    return table


def _write_manifest(out: Path, scenario: str, runs: list[RunSpec], meta: dict[str, Any]) -> None:
    manifest = {
        "scenario": scenario,
        **meta,
        "runs": [{"run_id": r.run_id, "strategy": r.strategy, "params": r.params} for r in runs],
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = out / ".sweep.json.tmp"
    tmp.write_text(json.dumps(json_safe(manifest), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / "sweep.json")


def run_sweep(
    scenario: str | Path,
    params: dict[str, list[ParamValue]],
    strategies: list[str],
    days: float,
    out: str | Path,
    *,
    start: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    progress: SweepProgress | None = None,
    report: bool = True,
    ledger: bool = False,
    writer: ResultsWriter | None = None,
) -> SweepResult:
    """Run every combination of ``params`` under every strategy, one Dask task per run.

    Parameters
    ----------
    scenario : str or Path
        Built-in scenario name or YAML path.
    params : dict
        Values by dotted scenario field path (see :func:`ersgrid.study.grid.parse_params`).
    strategies : list of str
        Strategy names; an unknown one is recorded as a failed run (``StrategyError``).
    days : float [d]
        Simulated days of each run.
    out : str or Path
        Sweep folder. Running again with the same folder resumes: finished runs are kept.
        With ``--scheduler``, it must be the same path on the workers (shared disk).
    start : str, optional
        First local day, ``YYYY-MM-DD``.
    scheduler : str, optional
        Address of a running Dask scheduler, e.g. ``tcp://10.0.0.5:8786``; a local cluster
        of ``workers`` processes (one thread each) when omitted.
    workers : int, optional
        Worker processes of the local cluster (default: CPU count).
    retry_failed : bool
        Run again the runs recorded as failed (by default they are kept as they are).
    progress : callable, optional
        See :data:`SweepProgress`.
    report : bool
        Write ``report.html`` with the trade-off plots.
    ledger : bool
        Write each run's signed ledger and anchor it on its own in-process chain. Off by
        default: a planning study settles no money, and the ledger is most of a results
        folder's writing time (several times the run's own time on a 1-day shin-tomei run;
        docs/journal.md, "Sweeps").
    writer : ResultsWriter, optional
        Writes each run's results folder (``runs/<id>/results``) on its worker; pass
        :func:`ersgrid.results.write_results`. Without one, a run leaves only its row.

    Raises
    ------
    ScenarioError
        If a parameter path or value is invalid (before anything runs).
    SweepError
        If Dask is missing or the scheduler cannot be reached.
    """
    wall0 = time.perf_counter()
    runs = build_runs(scenario, params, strategies, days, start)
    base = Path(out).resolve()
    try:
        base.mkdir(parents=True, exist_ok=True)
        _write_manifest(
            base,
            str(scenario),
            runs,
            {"params": params, "strategies": strategies, "days": days, "start": start},
        )
    except OSError as err:
        raise SweepError(f"cannot write the sweep folder {str(base)!r}: {err}") from None
    rows: dict[str, dict[str, Any]] = {}
    pending: list[RunSpec] = []
    for spec in runs:
        row = read_row(base, spec.run_id)
        if row is None:
            pending.append(spec)
        elif retry_failed and row.get("status") != "ok":
            (run_dir(base, spec.run_id) / ROW_FILE).unlink()  # the task skips runs with a row
            pending.append(spec)
        else:
            rows[spec.run_id] = row
    resumed = len(rows)
    if progress is not None:
        progress(0, len(runs), None)
        for done, row in enumerate(rows.values(), start=1):
            progress(done, len(runs), row)
    if pending:
        _execute(pending, base, scheduler, workers, rows, len(runs), progress, ledger, writer)
    table = rows_table([rows[r.run_id] for r in runs], list(params))
    tmp = base / ".sweep.parquet.tmp"
    table.to_parquet(tmp, index=False)
    os.replace(tmp, base / "sweep.parquet")
    if report:
        from ersgrid.study.report import write_sweep_report

        write_sweep_report(table, list(params), base / "report.html", title=str(scenario))
    return SweepResult(base, table, len(pending), resumed, round(time.perf_counter() - wall0, 3))


def _execute(
    pending: list[RunSpec],
    base: Path,
    scheduler: str | None,
    workers: int | None,
    rows: dict[str, dict[str, Any]],
    total: int,
    progress: SweepProgress | None,
    ledger: bool = False,
    writer: ResultsWriter | None = None,
) -> None:
    from distributed import wait

    # Keys name the run and the sweep folder, so two sweeps on one scheduler never share one.
    tag = hashlib.sha256(str(base).encode("utf-8")).hexdigest()[:8]
    with _client(scheduler, workers) as (client, cluster, n_local):
        by_key = {f"ersgrid-run-{spec.run_id}-{tag}": spec for spec in pending}
        # One call for all runs: the scheduler sees the whole group at once and queues it,
        # handing a worker a new run only when it has a free thread.
        futures = client.map(
            execute_run,
            list(by_key.values()),
            out=str(base),
            ledger=ledger,
            writer=writer,
            key=list(by_key),
            pure=False,
        )
        watchdog = _Watchdog(client, cluster, n_local, scheduler, base)
        waiting = set(futures)
        while waiting:
            try:
                done, waiting = wait(list(waiting), timeout=5.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                watchdog.check(len(waiting))
                continue
            waiting = set(waiting)
            for future in done:
                spec = by_key[future.key]
                try:
                    row = future.result()
                except Exception as err:  # e.g. KilledWorker: record it, keep going
                    row = json_safe(_failed_row(spec, err))
                    folder = run_dir(base, spec.run_id)
                    folder.mkdir(parents=True, exist_ok=True)
                    text = json.dumps(row, indent=1) + "\n"
                    (folder / ROW_FILE).write_text(text, encoding="utf-8")
                future.release()
                rows[spec.run_id] = row
                if progress is not None:
                    progress(len(rows), total, row)
            watchdog.check(len(waiting))


class _Watchdog:
    """Notices a cluster left without workers while runs wait (see the module's docstring)."""

    def __init__(self, client: Any, cluster: Any, n_local: int, scheduler: str | None,
                 base: Path) -> None:  # fmt: skip
        self.client, self.cluster, self.n_local = client, cluster, n_local
        self.scheduler, self.base = scheduler, base
        self.since: float | None = None
        self.revivals = 0

    def check(self, waiting: int) -> None:
        """Revive a local cluster or raise :class:`SweepError` after too long without workers."""
        if not waiting or self.client.nthreads():
            self.since = None
            return
        now = time.monotonic()
        if self.since is None:
            self.since = now
        idle_s = now - self.since
        if self.cluster is not None:
            if idle_s < LOCAL_NO_WORKER_S:
                return
            if self.revivals < LOCAL_REVIVALS:
                self.revivals += 1
                logger.warning(
                    "the local Dask cluster has had no worker for %.0f s (a worker restart "
                    "failed); starting %d fresh worker(s), attempt %d of %d",
                    idle_s, self.n_local, self.revivals, LOCAL_REVIVALS,
                )  # fmt: skip
                self.cluster.scale(0)
                self.cluster.scale(self.n_local)
                self.since = None
                return
            where = f"the local cluster, after {LOCAL_REVIVALS} attempts to restart it,"
        elif idle_s < NO_WORKER_S:
            return
        else:
            where = f"the scheduler at {self.scheduler!r}"
        raise SweepError(
            f"{where} has had no Dask worker for {idle_s:.0f} s, with {waiting} run(s) not "
            f"finished; the finished runs are saved in {str(self.base)!r}: start workers "
            "(or free memory) and run the same sweep again with the same --out to resume"
        )
