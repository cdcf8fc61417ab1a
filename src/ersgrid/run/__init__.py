"""Run layer: the closed loop, KPIs and the results folder."""

from ersgrid.run.runner import RunResult, run

__all__ = ["RunResult", "run"]
