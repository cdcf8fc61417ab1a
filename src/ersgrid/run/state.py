"""Where a run ended: the state the next run of the same scenario starts from.

A long study runs as consecutive blocks: ``run(..., start_state=previous.end_state)`` carries
on with the road, the batteries, the meters and the strategy exactly as the previous block
left them, so chained blocks give the figures of one long run (see ``docs/results.md``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import ScenarioError
from ersgrid.scenario.schema import Scenario
from ersgrid.twin.road import BlockReport, TwinState

__all__ = ["RunState", "check_continues", "scenario_fingerprint"]

FloatArray = npt.NDArray[np.float64]


def scenario_fingerprint(scenario: Scenario) -> str:
    """A digest of everything in a resolved scenario but its default first day (SHA-256, hex).

    Two runs may be chained only when their scenarios (seed included) have the same
    fingerprint: the state of one corridor means nothing on another.
    """
    text = scenario.model_dump_json(exclude={"simulation": {"start"}})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, eq=False)
class RunState:
    """The end state of a run, to start the next one from (``RunResult.end_state``).

    Attributes
    ----------
    scenario : str
        Name of the scenario.
    fingerprint : str
        :func:`scenario_fingerprint` of the resolved scenario.
    strategy : str
        Name of the strategy that ran.
    end : Timestamp
        The moment the state holds: the end of the run's last planning step, where the next
        run starts (tz-aware, the scenario's time zone).
    twin : TwinState
        The vehicles on the road (ids, positions, energy, trip and pass accounting).
    stored_kwh : ndarray [kWh]
        Energy in each substation's stationary battery.
    last : BlockReport or None
        What the twin measured in the last planning step (what a strategy sees as
        ``Observation.last`` at the next run's first step).
    import_kw : ndarray [kW] or None
        Metered grid import of each connection over the last planning step.
    peak_month : str
        Calendar month of ``end``'s last step (``YYYY-MM``).
    peak_import_kw : float [kW]
        Highest metered corridor import of that month so far, over this run and the runs it
        continues (what a monthly demand charge is owed on).
    strategy_state : dict of str to ndarray
        What the strategy carries over (:meth:`~ersgrid.control.base.Strategy.end_state`);
        empty for a strategy without memory.
    """

    scenario: str
    fingerprint: str
    strategy: str
    end: pd.Timestamp
    twin: TwinState
    stored_kwh: FloatArray
    last: BlockReport | None = None
    import_kw: FloatArray | None = None
    peak_month: str = ""
    peak_import_kw: float = 0.0
    strategy_state: Mapping[str, FloatArray] = field(default_factory=dict)


def check_continues(state: RunState, scenario: Scenario, start: pd.Timestamp) -> None:
    """Refuse a state that does not belong to ``scenario`` or does not end at ``start``.

    Raises
    ------
    ScenarioError
        Naming the scenario or the times that differ and what to do.
    """
    if state.fingerprint != scenario_fingerprint(scenario):
        raise ScenarioError(
            f"the end state belongs to another scenario ({state.scenario!r}, fingerprint "
            f"{state.fingerprint[:12]}) than this run's ({scenario.name!r}, "
            f"{scenario_fingerprint(scenario)[:12]}): continue from a run of the same "
            "scenario file with the same seed"
        )
    if pd.Timestamp(state.end) != pd.Timestamp(start):
        raise ScenarioError(
            f"the end state holds the road at {state.end}, this run starts at {start}: "
            f"start the run where the other ended (leave out --start, or give "
            f"--start {pd.Timestamp(state.end).date()} when it ended at midnight)"
        )


def month_peak(
    index: pd.DatetimeIndex, import_kw: FloatArray, previous: RunState | None
) -> tuple[str, float]:
    """The month of a run's last step and the highest corridor import of that month so far
    [kW] (with the run it continues, when that ended in the same month)."""
    if len(index) == 0:
        return "", 0.0
    months = index.strftime("%Y-%m")
    month = str(months[-1])
    total = np.asarray(import_kw, dtype=np.float64).sum(axis=1)
    peak = float(total[np.asarray(months == month)].max())
    if previous is not None and previous.peak_month == month:
        peak = max(peak, float(previous.peak_import_kw))
    return month, peak
