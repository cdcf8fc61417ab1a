"""What the planner sees of the distribution network: linearised voltage and loading limits.

The grid engine linearises the power flow at an operating point (bus voltages and branch
loadings, and their derivatives by each road connection's net draw); the control layer hands
the result to the planner as :class:`NetworkRows` (the derivatives, fixed while a model
lives) and, with each :class:`~ersgrid.optimize.request.PlanRequest`, the linearised value
of every element at zero draw (``network_base``, re-linearised each plan). For element ``e``
at step ``t`` the planned value is

    value(t, e) = base(t, e) + Σ_s coef(t, e, s) · (imp(t, s) − exp(t, s))

and the LP's ``network`` rows keep it within the element's limits (a voltage band, a loading
ceiling), each with two penalised slack columns (``nup`` above the upper limit, ``ndn`` below
the lower) so that a limit the road cannot meet (the network's own load breaks it) is
reported, not infeasible. Rows are scaled by ``scale(t, e) = max_s |coef(t, e, s)|``: their
unit is the kW of draw at the connection that moves the element most (kW-equivalent), so
their coefficients lie in ``[−1, 1]`` and a slack of one unit for one step is worth
:data:`NETWORK_PENALTY_FACTOR` times the shortfall penalty of the ``Δ`` kWh that connection
would have had to give up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NETWORK_PENALTY_FACTOR", "NetworkRows", "network_rows"]

FloatArray = npt.NDArray[np.float64]

NETWORK_PENALTY_FACTOR = 10.0
"""Cost of one kW-equivalent of network slack for one step, in shortfall penalties of a
step's kWh [-]: above 1, so the plan gives up vehicle energy before it breaks a limit its
connections can move; the factor lets the plan break a limit rather than cut a connection
whose effect on it is under a tenth of the most sensitive one's."""


@dataclass(frozen=True)
class NetworkRows:
    """Linearised network limits over a model's steps.

    Attributes
    ----------
    coef_per_kw : ndarray [unit/kW], shape (steps, elements, substations)
        Change of each element's value per kW more drawn at each connection (p.u./kW for
        a voltage, %/kW for a loading).
    scale : ndarray [unit/kW], shape (steps, elements)
        Row scale: the largest ``|coef|`` of the (step, element) over all substations of the
        whole corridor (1 where all are zero), kept when a model is cut into groups.
    lower, upper : ndarray [unit], shape (elements,)
        The element's limits (−inf / inf: none).
    labels : tuple of str
        What each element is, e.g. ``voltage Bus 5``, ``loading Line 1-2``.
    """

    coef_per_kw: FloatArray
    scale: FloatArray
    lower: FloatArray
    upper: FloatArray
    labels: tuple[str, ...]

    @property
    def n_elements(self) -> int:
        """Elements watched."""
        return len(self.labels)

    @property
    def row_coef(self) -> FloatArray:
        """Row coefficients on the net draw [kW-equivalent per kW], ``coef / scale``."""
        return np.asarray(self.coef_per_kw / self.scale[:, :, None], dtype=np.float64)

    def take(self, substations: npt.NDArray[np.int64]) -> NetworkRows:
        """The rows of a model over ``substations`` (a group): every element, the scale of
        the whole corridor."""
        return NetworkRows(self.coef_per_kw[:, :, substations], self.scale, self.lower,
                           self.upper, self.labels)  # fmt: skip

    def row_bounds(self, base: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Bounds of ``Σ row_coef · draw`` [kW-equivalent], shape (steps, elements), for the
        linearised values at zero draw ``base`` [unit] (NaN: no bound)."""
        known = np.isfinite(base)
        b = np.where(known, base, 0.0)
        with np.errstate(invalid="ignore"):
            lo = np.where(known, (self.lower[None, :] - b) / self.scale, -np.inf)
            hi = np.where(known, (self.upper[None, :] - b) / self.scale, np.inf)
        return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def network_rows(
    coef_per_kw: FloatArray, lower: FloatArray, upper: FloatArray, labels: tuple[str, ...]
) -> NetworkRows:
    """:class:`NetworkRows` with their scale; NaN coefficients (a step whose operating point
    did not converge) become zero."""
    coef = np.nan_to_num(np.asarray(coef_per_kw, dtype=np.float64), nan=0.0)
    scale = np.abs(coef).max(axis=2, initial=0.0)
    scale = np.where(scale > 0.0, scale, 1.0)
    return NetworkRows(coef, scale, np.asarray(lower, dtype=np.float64),
                       np.asarray(upper, dtype=np.float64), tuple(labels))  # fmt: skip
