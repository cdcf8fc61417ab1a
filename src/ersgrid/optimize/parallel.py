"""The decomposed planner's groups on Dask workers (:class:`DaskGroups`).

Each group's model lives on one worker as a Dask actor holding its warm
:class:`~ersgrid.optimize.solver.HighsSession`; groups are pinned round-robin to the workers.
A job sends only the group's bounds that changed since its previous job. Dask is imported
when a :class:`DaskGroups` is made, not with this module.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.optimize.decompose import GROUP_PRESOLVE, GroupJob, GroupOutcome, solve_group
from ersgrid.optimize.model import Bounds, CohortLP
from ersgrid.optimize.solver import HighsSession

__all__ = ["DaskGroups"]

FloatArray = npt.NDArray[np.float64]
Change = tuple[tuple[npt.NDArray[np.int64], FloatArray], ...]

_FIELDS = ("col_lower", "col_upper", "row_lower", "row_upper")


def _changes(old: Bounds | None, new: Bounds) -> Change:
    """The entries of ``new`` that differ from ``old`` (all when ``old`` is None)."""
    out = []
    for name in _FIELDS:
        b = getattr(new, name)
        idx = (
            np.arange(len(b), dtype=np.int64)
            if old is None
            else np.flatnonzero(getattr(old, name) != b).astype(np.int64)
        )
        out.append((idx, np.asarray(b[idx], dtype=np.float64)))
    return tuple(out)


class GroupActor:
    """One group's model and warm HiGHS session on a worker."""

    def __init__(self, model: CohortLP, time_limit_s: float, resident: bool = True) -> None:
        self.session = HighsSession(
            model, time_limit_s=time_limit_s, presolve=GROUP_PRESOLVE, resident=resident
        )
        first = model.bounds()
        self.bounds = Bounds(*(getattr(first, n).copy() for n in _FIELDS))

    def solve(self, changes: Change, time_limit_s: float) -> GroupOutcome:
        """Apply ``changes`` to the held bounds and solve."""
        for name, (idx, vals) in zip(_FIELDS, changes, strict=True):
            getattr(self.bounds, name)[idx] = vals
        return solve_group(self.session, GroupJob(-1, self.bounds, time_limit_s))


class DaskGroups:
    """A :class:`~ersgrid.optimize.decompose.GroupExecutor` on Dask workers.

    Parameters
    ----------
    workers : int
        Worker processes (one thread each) of a local cluster.
    scheduler : str, optional
        Address of a running Dask scheduler to use instead of a local cluster.
    resident : bool
        Each actor keeps its HiGHS instance between solves
        (:class:`~ersgrid.optimize.solver.HighsSession` ``resident``).
    """

    def __init__(
        self, workers: int = 2, scheduler: str | None = None, resident: bool = True
    ) -> None:
        self.resident = bool(resident)
        import distributed

        dist: Any = distributed  # untyped package
        self._cluster: Any = None
        if scheduler is None:
            if workers < 1:
                raise ValueError(f"workers must be at least 1, got {workers}")
            self._cluster = dist.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
            )  # fmt: skip
            self._client: Any = dist.Client(self._cluster)
        else:
            self._client = dist.Client(scheduler)
            self._client.wait_for_workers(1, timeout=60)
        self._futures: list[Any] = []
        self._actors: list[Any] = []
        self._sent: list[Bounds | None] = []

    @property
    def workers(self) -> list[str]:
        """Addresses of the workers, sorted."""
        return sorted(self._client.scheduler_info()["workers"])

    def start(self, models: Sequence[CohortLP], time_limit_s: float) -> None:
        """Build one actor per group model, group ``i`` on worker ``i mod n``."""
        self._actors, self._futures, self._sent = [], [], []  # release the old actors
        addrs = self.workers
        self._futures = [
            self._client.submit(GroupActor, m, time_limit_s, self.resident, actor=True, pure=False,
                                workers=[addrs[i % len(addrs)]])
            for i, m in enumerate(models)
        ]  # fmt: skip
        self._actors = [f.result() for f in self._futures]
        self._sent = [None] * len(models)

    def solve(self, jobs: Sequence[GroupJob]) -> list[GroupOutcome]:
        """Run ``jobs`` on their groups' actors at once (those on one worker in turn)."""
        pending = []
        for j in jobs:
            changes = _changes(self._sent[j.group], j.bounds)
            self._sent[j.group] = Bounds(*(getattr(j.bounds, n).copy() for n in _FIELDS))
            pending.append(self._actors[j.group].solve(changes, j.time_limit_s))
        return [p.result() for p in pending]

    def close(self) -> None:
        """Release the actors and close the client and any local cluster."""
        self._actors, self._futures = [], []
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
