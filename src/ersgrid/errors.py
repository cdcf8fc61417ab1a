"""The one exception tree of ersgrid.

Every error that ersgrid raises on purpose derives from :class:`ErsgridError`, so a caller
can catch everything of ours with one ``except`` and let genuine bugs through. Each message
says what is wrong and what to do about it.

::

    ErsgridError
    ├── ScenarioError          a scenario file or override is invalid
    ├── DataError              an input file (prices, weather, history) is malformed
    ├── StrategyError          a strategy is unknown or returned an unusable decision
    ├── SimulationError        the twin reached a state it cannot continue from
    ├── InfeasibleSchedule     the planner could not produce a schedule
    ├── LedgerError            the ledger cannot be written or read
    │   └── LedgerTampered     verification found a record or block that does not match
    └── ServiceError           the operations service cannot do what was asked
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "ErsgridError",
    "InfeasibleSchedule",
    "LedgerError",
    "LedgerTampered",
    "ScenarioError",
    "ServiceError",
    "SimulationError",
    "StrategyError",
]


class ErsgridError(Exception):
    """Base of every error ersgrid raises on purpose."""


class ScenarioError(ErsgridError):
    """A scenario is invalid: the message names the field and the rule it breaks."""


class DataError(ErsgridError):
    """An input file is malformed: the message names the file, line and column."""


class StrategyError(ErsgridError):
    """A strategy is unknown, failed to load, or returned a decision of the wrong shape."""


class SimulationError(ErsgridError):
    """The twin reached a state it cannot continue from."""


class InfeasibleSchedule(ErsgridError):
    """The planner could not produce a schedule (solver failure or impossible hard limits)."""


class LedgerError(ErsgridError):
    """The ledger cannot be written, read or anchored."""


class LedgerTampered(LedgerError):
    """Verification found a record, block or anchor that does not match what was signed."""


class ServiceError(ErsgridError):
    """The operations service cannot do what was asked (bad request, missing device, I/O)."""
