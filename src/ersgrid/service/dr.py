"""Demand-response events: a cap on a substation's grid import for a time window."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import ServiceError

__all__ = ["DrBook", "DrEvent"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class DrEvent:
    """One demand-response event.

    Attributes
    ----------
    id : int
    start, end : Timestamp
        Scenario time, tz-aware; the event is active for ``start <= t < end``.
    substations : list of str
        Substations it caps; all of them when the request named none.
    import_limit_kw : float [kW]
        Most each named substation may import from the grid while active (road plus its other
        loads at the connection).
    reason : str
    cancelled : bool
    """

    id: int
    start: pd.Timestamp
    end: pd.Timestamp
    substations: list[str]
    import_limit_kw: float
    reason: str = ""
    cancelled: bool = False

    def status(self, now: pd.Timestamp) -> str:
        """``cancelled``, ``scheduled``, ``active`` or ``ended`` at scenario time ``now``."""
        if self.cancelled:
            return "cancelled"
        if now < self.start:
            return "scheduled"
        return "active" if now < self.end else "ended"

    def as_dict(self, now: pd.Timestamp) -> dict[str, Any]:
        """JSON-ready fields and the status at ``now``."""
        return {
            "id": self.id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "substations": self.substations,
            "import_limit_kw": self.import_limit_kw,
            "reason": self.reason,
            "status": self.status(now),
        }


class DrBook:
    """Thread-safe store of DR events for one corridor.

    Parameters
    ----------
    sub_ids : list of str
        Substation ids of the corridor, in layout order.
    """

    def __init__(self, sub_ids: list[str]) -> None:
        self.sub_ids = list(sub_ids)
        self._events: dict[int, DrEvent] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.on_change: Callable[[DrEvent], None] | None = None
        self.revision = 0  # counts changes: views rendered at one revision are still true

    def create(
        self,
        start: pd.Timestamp,
        end: pd.Timestamp,
        import_limit_kw: float,
        substations: list[str] | None = None,
        reason: str = "",
    ) -> DrEvent:
        """Add an event; checked already by the API, checked again here for direct callers.

        Raises
        ------
        ServiceError
            If the window is empty, the limit is not a finite non-negative number, or a
            substation id is unknown.
        """
        if not end > start:
            raise ServiceError("end: a DR event must end after it starts")
        if not (np.isfinite(import_limit_kw) and import_limit_kw >= 0):
            raise ServiceError("import_limit_kw: must be a finite number >= 0 [kW]")
        names = list(substations or self.sub_ids)
        unknown = [s for s in names if s not in self.sub_ids]
        if unknown:
            raise ServiceError(
                f"substations: unknown id(s) {', '.join(unknown)}; known: {', '.join(self.sub_ids)}"
            )
        with self._lock:
            event = DrEvent(next(self._ids), start, end, names, float(import_limit_kw), reason)
            self._events[event.id] = event
            self.revision += 1
        if self.on_change is not None:
            self.on_change(event)
        return event

    def cancel(self, event_id: int) -> DrEvent:
        """Cancel an event (it stays listed as cancelled)."""
        with self._lock:
            event = self._events.get(event_id)
            if event is None:
                raise ServiceError(f"no DR event with id {event_id}")
            event.cancelled = True
            self.revision += 1
        if self.on_change is not None:
            self.on_change(event)
        return event

    def list(self) -> list[DrEvent]:
        """Every event, in creation order."""
        with self._lock:
            return list(self._events.values())

    def import_caps_kw(self, now: pd.Timestamp) -> FloatArray:
        """Import cap per substation at ``now`` [kW]; ``inf`` where no event is active."""
        caps = np.full(len(self.sub_ids), np.inf)
        with self._lock:
            for event in self._events.values():
                if event.status(now) == "active":
                    for sid in event.substations:
                        j = self.sub_ids.index(sid)
                        caps[j] = min(caps[j], event.import_limit_kw)
        return caps
