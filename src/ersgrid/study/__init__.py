"""Planning studies: sweeps of scenario parameters and strategies, one Dask task per run."""

from ersgrid.study.grid import RunSpec, build_runs, parse_param, parse_params
from ersgrid.study.report import pareto_mask, write_sweep_report
from ersgrid.study.sweep import SweepResult, run_sweep

__all__ = [
    "RunSpec",
    "SweepResult",
    "build_runs",
    "pareto_mask",
    "parse_param",
    "parse_params",
    "run_sweep",
    "write_sweep_report",
]
