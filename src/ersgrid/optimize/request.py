"""One planning request: everything a solve needs beyond the model it is solved on.

A :class:`~ersgrid.optimize.model.CohortLP` holds what is fixed while the model lives (its
cohorts and their charging opportunities, prices, CO2, other loads, renewables, limits and
batteries over the model's steps). A :class:`PlanRequest` holds what changes from one
receding-horizon solve to the next: the window, the cohorts' counts and energies (forecast or
measured), the stored energy now, the reserve, the least stored energy at the window's end
and at every step (a longer plan's), import caps and the peak already owed. The same request
goes to :meth:`CohortLP.bounds <ersgrid.optimize.model.CohortLP.bounds>`,
:meth:`HighsSession.solve <ersgrid.optimize.solver.HighsSession.solve>` and
:meth:`DecomposedLP.solve <ersgrid.optimize.decompose.DecomposedLP.solve>`; the decomposed
planner hands each group :meth:`PlanRequest.restrict` of it, which maps every field by the
axis it is indexed on, so no field can reach one planner and not the other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["AXES", "PlanRequest"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

AXES = ("cohort", "substation", "cell", "network", "scalar")
"""What a request field is indexed on (its ``axis`` metadata): per cohort, per substation,
per (step, substation) cell, per (step, network element) (every group of a decomposed model
watches every element), or one value for the whole model."""


def _per(axis: str) -> dict[str, str]:
    return {"axis": axis}


@dataclass(frozen=True)
class PlanRequest:
    """What one solve of a cohort LP asks for; every field left ``None`` takes the model's own.

    Attributes
    ----------
    window : (int, int) or None
        Steps ``k0 .. k1 - 1`` of the model are planned; every other step is inactive (zero
        flows). Default: every step.
    count : ndarray [veh], per cohort, or None
        Vehicles in each cohort (default: the cohorts' own counts, i.e. the forecast).
    energy_kwh : ndarray [kWh], per cohort, or None
        Effective entry energy of one vehicle: for a cohort already on the road, its measured
        energy now plus what the model says it consumed before the window.
    stored_kwh : ndarray [kWh], per substation, or None
        Energy stored at the start of step ``k0`` (default: the batteries' initial energy).
    import_limit_kw : ndarray [kW], shape (steps, substations), or None
        Replaces the model's import caps (e.g. a demand-response event).
    terminal_kwh : ndarray [kWh], per substation, or None
        Least stored energy at the end of the window (e.g. a longer plan's at that step).
    reserve_kwh : ndarray [kWh], per substation, or None
        Stored energy the plan keeps at every step of the window (a reserve the EMS spends in
        real time against load above the forecast); where the battery holds less now, what
        it holds.
    path_kwh : ndarray [kWh], shape (steps, substations), or None
        Least stored energy at the end of each model step (NaN: none), e.g. a longer plan's
        trajectory, so the window does not spend energy that plan keeps for later days;
        clipped to the battery's limits.
    peak_floor_kw : float [kW]
        Corridor import peak already owed in the billing period (the demand charge is due up
        to it whatever the plan does).
    network_base : ndarray [p.u. or %], shape (steps, network elements), or None
        Linearised value of each watched network element at zero draw of every connection
        (:mod:`ersgrid.optimize.network`), from the grid engine's power flow at this plan's
        operating point; NaN: no limit at that step; None: rows ``network`` left free.
    """

    window: tuple[int, int] | None = field(default=None, metadata=_per("scalar"))
    count: FloatArray | None = field(default=None, metadata=_per("cohort"))
    energy_kwh: FloatArray | None = field(default=None, metadata=_per("cohort"))
    stored_kwh: FloatArray | None = field(default=None, metadata=_per("substation"))
    import_limit_kw: FloatArray | None = field(default=None, metadata=_per("cell"))
    terminal_kwh: FloatArray | None = field(default=None, metadata=_per("substation"))
    reserve_kwh: FloatArray | None = field(default=None, metadata=_per("substation"))
    path_kwh: FloatArray | None = field(default=None, metadata=_per("cell"))
    peak_floor_kw: float = field(default=0.0, metadata=_per("scalar"))
    network_base: FloatArray | None = field(default=None, metadata=_per("network"))

    def restrict(self, substations: IntArray, cohorts: IntArray) -> PlanRequest:
        """The request of a model over ``substations`` and ``cohorts`` of this one's (a
        group of :class:`~ersgrid.optimize.decompose.DecomposedLP`): every per-cohort field
        taken at ``cohorts``, every per-substation and per-cell field at ``substations``,
        every scalar and per-network-element field as it is."""
        changes: dict[str, FloatArray] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            axis = f.metadata["axis"]
            if value is None or axis in ("scalar", "network"):
                continue
            array = np.asarray(value, dtype=np.float64)
            if axis == "cohort":
                changes[f.name] = array[cohorts]
            elif axis == "substation":
                changes[f.name] = array[substations]
            else:
                changes[f.name] = array[:, substations]
        # only the array fields change: their type is the one each field declares
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def without_guide(self) -> PlanRequest:
        """The request without the longer plan's stored energy (``terminal_kwh`` and
        ``path_kwh``), e.g. when an import cap leaves no room to refill to it."""
        return dataclasses.replace(self, terminal_kwh=None, path_kwh=None)
