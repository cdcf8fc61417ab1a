"""Study runs in the background: queue an ``ersgrid.run``, poll its progress, fetch results."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ersgrid.errors import ErsgridError, ServiceError
from ersgrid.jsonsafe import json_safe

__all__ = ["Studies", "StudyRun"]


@dataclass
class StudyRun:
    """One study run and where it stands.

    Attributes
    ----------
    id : int
    scenario, strategy : str
    days : float [d]
    seed : int or None
    status : {"queued", "running", "done", "failed"}
    done_steps, total_steps : int
        Planning steps finished and in total (0 until the run has started).
    error : str or None
    out : Path
        Results folder.
    kpis : dict or None
    """

    id: int
    scenario: str
    strategy: str
    days: float
    seed: int | None
    out: Path
    status: str = "queued"
    done_steps: int = 0
    total_steps: int = 0
    error: str | None = None
    kpis: dict[str, Any] | None = None
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the KPIs)."""
        return {
            "id": self.id,
            "scenario": self.scenario,
            "strategy": self.strategy,
            "days": self.days,
            "seed": self.seed,
            "status": self.status,
            "progress": self.done_steps / self.total_steps if self.total_steps else 0.0,
            "done_steps": self.done_steps,
            "total_steps": self.total_steps,
            "error": self.error,
            "created": self.created,
        }


class Studies:
    """Runs studies one at a time in a worker thread (the live loop keeps the other core).

    Parameters
    ----------
    folder : Path
        Each run writes its results folder in ``folder/<id>``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._runs: dict[int, StudyRun] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ersgrid-study")

    def submit(self, scenario: str, strategy: str, days: float, seed: int | None) -> StudyRun:
        """Queue a run of a scenario that the caller has already validated."""
        with self._lock:
            run_id = next(self._ids)
            study = StudyRun(run_id, scenario, strategy, days, seed, self.folder / str(run_id))
            self._runs[run_id] = study
        self._pool.submit(self._work, study)
        return study

    def get(self, run_id: int) -> StudyRun:
        """The run with this id.

        Raises
        ------
        ServiceError
            If there is none.
        """
        with self._lock:
            study = self._runs.get(run_id)
        if study is None:
            raise ServiceError(f"no study run with id {run_id}")
        return study

    def list(self) -> list[StudyRun]:
        """Every run, newest first."""
        with self._lock:
            return list(reversed(self._runs.values()))

    def shutdown(self) -> None:
        """Stop taking runs; the one in progress finishes in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _work(self, study: StudyRun) -> None:
        from ersgrid.results import write_results
        from ersgrid.run.runner import run

        def progress(done: int, total: int) -> None:
            study.done_steps, study.total_steps = done, total

        study.status = "running"
        try:
            result = run(
                study.scenario, study.strategy, days=study.days, seed=study.seed,
                progress=progress,
            )  # fmt: skip
            write_results(result, study.out)
        except ErsgridError as err:
            study.status, study.error = "failed", str(err)
            return
        except Exception as err:  # a bug in a run must not take the service down
            study.status, study.error = "failed", f"{type(err).__name__}: {err}"
            return
        study.kpis = json_safe(result.kpis)
        study.status = "done"
