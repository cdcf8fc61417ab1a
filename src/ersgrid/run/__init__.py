"""Run layer: the closed loop and its KPIs (the results folder is written by the faces)."""

from ersgrid.run.kpis import combine_kpis
from ersgrid.run.runner import RunResult, run
from ersgrid.run.state import RunState

__all__ = ["RunResult", "RunState", "combine_kpis", "run"]
