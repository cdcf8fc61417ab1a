"""Run layer: the closed loop and its KPIs (the results folder is written by the faces)."""

from ersgrid.run.runner import RunResult, run

__all__ = ["RunResult", "run"]
