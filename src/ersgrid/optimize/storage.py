"""Stationary storage as arrays, and how a storage set-point is realised within its limits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario

__all__ = ["StorageArrays", "realise_storage", "storage_arrays"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class StorageArrays:
    """Stationary batteries per substation (zeros where there is none).

    Attributes
    ----------
    energy_min_kwh, energy_max_kwh : ndarray [kWh]
        Allowed stored energy.
    initial_kwh : ndarray [kWh]
    power_kw : ndarray [kW]
        Charge and discharge limit, AC side.
    charge_efficiency, discharge_efficiency : float [-]
    """

    energy_min_kwh: FloatArray
    energy_max_kwh: FloatArray
    initial_kwh: FloatArray
    power_kw: FloatArray
    charge_efficiency: float
    discharge_efficiency: float

    @property
    def present(self) -> bool:
        """True if any substation has a unit with power and energy."""
        return bool(np.any((self.power_kw > 0) & (self.energy_max_kwh > 0)))


def storage_arrays(scenario: Scenario, layout: Layout) -> StorageArrays:
    """The scenario's ``storage`` section per substation of ``layout``."""
    n = layout.n_substations
    spec = scenario.storage
    if spec is None:
        z = np.zeros(n)
        return StorageArrays(z, z.copy(), z.copy(), z.copy(), 1.0, 1.0)
    has = np.array(
        [spec.substations is None or sid in spec.substations for sid in layout.sub_ids],
        dtype=np.float64,
    )
    cap = has * spec.energy_kwh
    return StorageArrays(
        energy_min_kwh=cap * spec.soc_min,
        energy_max_kwh=cap * spec.soc_max,
        initial_kwh=cap * spec.soc_initial,
        power_kw=has * spec.power_kw,
        charge_efficiency=spec.charge_efficiency,
        discharge_efficiency=spec.discharge_efficiency,
    )


def realise_storage(
    setpoint_kw: FloatArray,
    stored_kwh: FloatArray,
    storage: StorageArrays,
    net_load_kw: FloatArray,
    import_limit_kw: FloatArray,
    export_limit_kw: FloatArray,
    step_h: float,
    may_export: bool = False,
    import_target_kw: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """What the batteries actually do in one step, and their stored energy after it.

    The set-point (AC side, positive = charging from the grid) is clipped to the power
    limit, to the energy room and content, to the import headroom left by the site's net
    load when charging, and when discharging to the site's own net load (batteries behind
    the connection do not feed back; with ``may_export`` up to the export limit beyond it).
    With ``import_target_kw`` the EMS keeps the connection's import under the target in real
    time: the set-point becomes at most ``target − net load`` (more discharge, or less
    charging, where the metered load exceeds what the plan expected). The demand charge is
    owed on the corridor's total import, so where a connection still exceeds its target (its
    battery empty or at full power), the other connections with a target make up the excess
    together: they charge less first, then discharge more, within their own power, content
    and load (see :func:`_share_excess`).

    Parameters
    ----------
    setpoint_kw : ndarray [kW], per substation
    stored_kwh : ndarray [kWh]
        Stored energy at the start of the step.
    storage : StorageArrays
    net_load_kw : ndarray [kW]
        Road + other load − renewables at each connection during the step.
    import_limit_kw, export_limit_kw : ndarray [kW]
    step_h : float [h]

    Returns
    -------
    power_kw : ndarray [kW]
        Realised AC power (positive charging).
    stored_kwh : ndarray [kWh]
        Stored energy at the end of the step.
    """
    eta_c, eta_d = storage.charge_efficiency, storage.discharge_efficiency
    if import_target_kw is not None:
        setpoint_kw = np.minimum(setpoint_kw, import_target_kw - net_load_kw)
    p = np.clip(setpoint_kw, -storage.power_kw, storage.power_kw)
    room_kw = np.maximum(storage.energy_max_kwh - stored_kwh, 0.0) / (eta_c * step_h)
    content_kw = np.maximum(stored_kwh - storage.energy_min_kwh, 0.0) * eta_d / step_h
    headroom_kw = np.maximum(import_limit_kw - net_load_kw, 0.0)
    sink_kw = np.maximum(net_load_kw + (export_limit_kw if may_export else 0.0), 0.0)
    charge = np.minimum(np.minimum(np.maximum(p, 0.0), room_kw), headroom_kw)
    discharge = np.minimum(np.minimum(np.maximum(-p, 0.0), content_kw), sink_kw)
    if import_target_kw is not None:
        spare_kw = np.minimum(np.minimum(storage.power_kw, content_kw), sink_kw) - discharge
        charge, discharge = _share_excess(
            charge, discharge, np.maximum(spare_kw, 0.0), net_load_kw, import_target_kw
        )
    stored = stored_kwh + (charge * eta_c - discharge / eta_d) * step_h
    stored = np.clip(stored, storage.energy_min_kwh, storage.energy_max_kwh)
    return charge - discharge, stored


def _share_excess(
    charge_kw: FloatArray,
    discharge_kw: FloatArray,
    spare_kw: FloatArray,
    net_load_kw: FloatArray,
    target_kw: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Charge and discharge [kW] after the connections with a (finite) import target share
    the excess of their total import over their total target: charging from the grid is cut
    first, in proportion to each connection's, then discharge added in proportion to each
    one's ``spare_kw`` (power it may still discharge). Connections without a target (inf)
    take no part."""
    has = np.isfinite(target_kw)
    if not np.any(has):
        return charge_kw, discharge_kw
    imp = np.maximum(net_load_kw + charge_kw - discharge_kw, 0.0)
    excess = float(imp[has].sum() - target_kw[has].sum())
    if excess <= 1e-9:
        return charge_kw, discharge_kw
    charging = np.where(has, np.minimum(charge_kw, imp), 0.0)  # charging from the grid
    if charging.sum() > 0.0:
        cut = charging * min(1.0, excess / float(charging.sum()))
        charge_kw = charge_kw - cut
        excess -= float(cut.sum())
    spare = np.where(has & (charge_kw <= 0.0), spare_kw, 0.0)
    if excess > 1e-9 and spare.sum() > 0.0:
        discharge_kw = discharge_kw + spare * min(1.0, excess / float(spare.sum()))
    return charge_kw, discharge_kw
