"""The one exception tree of ersgrid.

Every error that ersgrid raises on purpose derives from :class:`ErsgridError`, so a caller
can catch everything of ours with one ``except`` and let genuine bugs through. Each message
says what is wrong and what to do about it.

::

    ErsgridError
    ├── ScenarioError          a scenario file or override is invalid
    ├── DataError              an input file (prices, weather, history) is malformed
    ├── GridError              a power flow failed (did not converge) or the network is unusable
    ├── StrategyError          a strategy is unknown or returned an unusable decision
    ├── SimulationError        the twin reached a state it cannot continue from
    ├── InfeasibleSchedule     the planner could not produce a schedule
    ├── SweepError             a sweep cannot start (no Dask, no scheduler, unusable --out)
    ├── LedgerError            the ledger cannot be written or read
    │   └── LedgerTampered     verification found a record or block that does not match
    └── ServiceError           the operations service cannot do what was asked
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "ErsgridError",
    "GridError",
    "InfeasibleSchedule",
    "LedgerError",
    "LedgerTampered",
    "ScenarioError",
    "ServiceError",
    "SimulationError",
    "StrategyError",
    "SweepError",
]


class ErsgridError(Exception):
    """Base of every error ersgrid raises on purpose."""


class ScenarioError(ErsgridError):
    """A scenario is invalid: the message names the field and the rule it breaks."""


class DataError(ErsgridError):
    """An input file is malformed: the message names the file, line and column."""


class GridError(ErsgridError):
    """A power flow did not converge or a network cannot be used: names the step and cause."""


class StrategyError(ErsgridError):
    """A strategy is unknown, failed to load, or returned a decision of the wrong shape."""


class SimulationError(ErsgridError):
    """The twin reached a state it cannot continue from."""


class InfeasibleSchedule(ErsgridError):
    """The planner could not produce a schedule (solver failure or impossible hard limits).

    ``timed_out`` is true when the solver stopped at its time limit: its basis is kept, so the
    next solve of the same session goes on from where this one stopped.
    """

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class SweepError(ErsgridError):
    """A sweep cannot start or finish: Dask missing, scheduler unreachable, output unusable."""


class LedgerError(ErsgridError):
    """The ledger cannot be written, read or anchored."""


class LedgerTampered(LedgerError):
    """Verification found a record, block or anchor that does not match what was signed."""


class ServiceError(ErsgridError):
    """The operations service cannot do what was asked (bad request, missing device, I/O)."""
