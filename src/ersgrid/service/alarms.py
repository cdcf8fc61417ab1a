"""The alarm book: raised by operators, detectors and device adapters; acknowledged by operators."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ersgrid.errors import ServiceError

__all__ = ["SEVERITIES", "Alarm", "AlarmBook"]

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


@dataclass
class Alarm:
    """One alarm.

    Attributes
    ----------
    id : int
    kind : str
        What happened, e.g. ``coil_efficiency``, ``meter_balance``, ``sensor_stuck``,
        ``device_stale``, ``operator``.
    subject : str
        What it concerns: a segment or substation id, a charger id, or ``corridor``.
    severity : {"info", "warning", "critical"}
    message : str
    source : str
        Who raised it: ``operator``, ``anomaly``, ``mqtt``, ``ocpp``, ``loop``.
    sim_time : str
        Scenario time when raised (ISO 8601, scenario time zone).
    wall_time : str
        UTC wall-clock time when raised (ISO 8601).
    active : bool
        False once the condition has cleared (the alarm stays in the book).
    acknowledged : bool
    acknowledged_by : str or None
    """

    id: int
    kind: str
    subject: str
    severity: Severity
    message: str
    source: str
    sim_time: str
    wall_time: str
    active: bool = True
    acknowledged: bool = False
    acknowledged_by: str | None = None
    cleared_sim_time: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (a copy: changing it changes no alarm).

        The fields are strings, numbers and flags, so a shallow copy of them and a deep copy
        of ``data`` are what :func:`dataclasses.asdict` returns, at a twentieth of its cost:
        ``GET /api/alarms`` builds fifty of these per request on the event loop.
        """
        fields = dict(self.__dict__)
        fields["data"] = copy.deepcopy(self.data) if self.data else {}
        return fields


class AlarmBook:
    """Thread-safe list of alarms with de-duplication of active conditions.

    Parameters
    ----------
    clock : callable
        Returns the current scenario time as an ISO string.
    on_change : callable, optional
        Called with each alarm raised, acknowledged or cleared (e.g. to store it).
    """

    def __init__(
        self, clock: Callable[[], str], on_change: Callable[[Alarm], None] | None = None
    ) -> None:
        self._clock = clock
        self._alarms: dict[int, Alarm] = {}
        self._active_key: dict[tuple[str, str], int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.on_change = on_change
        self.revision = 0  # counts changes: views rendered at one revision are still true
        self._n_active = 0  # kept as alarms change: the live state reads them at each tick
        self._n_unacknowledged = 0

    def raise_alarm(
        self,
        kind: str,
        subject: str,
        message: str,
        severity: Severity = "warning",
        source: str = "operator",
        data: dict[str, Any] | None = None,
    ) -> Alarm:
        """Raise an alarm; an active alarm of the same kind and subject is returned instead.

        Operator alarms are never merged: each call raises a new one.
        """
        if severity not in SEVERITIES:
            raise ServiceError(f"severity {severity!r}: expected one of {', '.join(SEVERITIES)}")
        key = (kind, subject)
        with self._lock:
            if source != "operator" and key in self._active_key:
                return self._alarms[self._active_key[key]]
            alarm = Alarm(
                id=next(self._ids),
                kind=kind,
                subject=subject,
                severity=severity,
                message=message,
                source=source,
                sim_time=self._clock(),
                wall_time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                data=dict(data or {}),
            )
            self._alarms[alarm.id] = alarm
            self._n_active += alarm.active
            self._n_unacknowledged += not alarm.acknowledged
            if source != "operator":
                self._active_key[key] = alarm.id
        self._notify(alarm)
        return alarm

    def clear(self, kind: str, subject: str) -> Alarm | None:
        """Mark the active alarm of this kind and subject as cleared (condition gone)."""
        with self._lock:
            alarm_id = self._active_key.pop((kind, subject), None)
            if alarm_id is None:
                return None
            alarm = self._alarms[alarm_id]
            self._n_active -= alarm.active
            alarm.active = False
            alarm.cleared_sim_time = self._clock()
        self._notify(alarm)
        return alarm

    def is_active(self, kind: str, subject: str) -> bool:
        """Whether an alarm of this kind and subject is active now."""
        with self._lock:
            return (kind, subject) in self._active_key

    def acknowledge(self, alarm_id: int, by: str = "operator") -> Alarm:
        """Acknowledge an alarm.

        Raises
        ------
        ServiceError
            If there is no alarm with this id.
        """
        with self._lock:
            alarm = self._alarms.get(alarm_id)
            if alarm is None:
                raise ServiceError(f"no alarm with id {alarm_id}")
            self._n_unacknowledged -= not alarm.acknowledged
            alarm.acknowledged = True
            alarm.acknowledged_by = by
        self._notify(alarm)
        return alarm

    def get(self, alarm_id: int) -> Alarm | None:
        """The alarm with this id, or None."""
        with self._lock:
            return self._alarms.get(alarm_id)

    def list(
        self, active: bool | None = None, acknowledged: bool | None = None, limit: int = 500
    ) -> list[Alarm]:
        """Alarms, newest first, optionally filtered."""
        with self._lock:
            return list(itertools.islice(
                (a for a in reversed(self._alarms.values())
                 if (active is None or a.active == active)
                 and (acknowledged is None or a.acknowledged == acknowledged)),
                limit,
            ))  # fmt: skip

    def count(self, active: bool | None = None, acknowledged: bool | None = None) -> int:
        """How many alarms match the filter (all of them, not a page)."""
        with self._lock:
            if (active, acknowledged) == (True, None):
                return self._n_active
            if (active, acknowledged) == (None, False):
                return self._n_unacknowledged
            return sum(
                (active is None or a.active == active)
                and (acknowledged is None or a.acknowledged == acknowledged)
                for a in self._alarms.values()
            )

    def _notify(self, alarm: Alarm) -> None:
        self.revision += 1
        if self.on_change is not None:
            self.on_change(alarm)
