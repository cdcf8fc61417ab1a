"""Optimisation engine: the cohort planning LP, built from arrays and solved by HiGHS."""

from ersgrid.optimize.cohorts import Cohorts, Exposure, exposure, forecast_cohorts, vehicle_cohorts
from ersgrid.optimize.model import Bounds, CohortLP, PlanInputs
from ersgrid.optimize.objective import ObjectiveWeights
from ersgrid.optimize.request import PlanRequest
from ersgrid.optimize.solver import HighsSession, Solution
from ersgrid.optimize.storage import StorageArrays, realise_storage, storage_arrays

__all__ = [
    "Bounds",
    "CohortLP",
    "Cohorts",
    "Exposure",
    "HighsSession",
    "ObjectiveWeights",
    "PlanInputs",
    "PlanRequest",
    "Solution",
    "StorageArrays",
    "exposure",
    "forecast_cohorts",
    "realise_storage",
    "storage_arrays",
    "vehicle_cohorts",
]
