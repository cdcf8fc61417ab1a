"""Linear sensitivities of bus voltages and branch loadings to the road connections' power.

At an operating point (the injections of each step, solved by
:func:`~ersgrid.grid.powerflow.solve_states`) the power-flow equations are linearised: with
``J`` the Newton-Raphson Jacobian of the converged state, a change ``dS`` of the complex
power injected at the buses moves the state by ``J⁻¹ dS`` (angles at PV and PQ buses,
magnitudes at PQ buses). A road connection drawing ``dP`` more [MW] at its power factor
injects ``−dP (1 + j tan φ)`` at its bus, so one solve of the stacked Jacobians with one
right-hand side per connection gives, for every step at once:

- ``∂|V|/∂P`` of every bus [p.u./MW] (zero at the slack and PV buses, whose magnitude is
  held), and
- ``∂loading/∂P`` of every line and transformer [%/MW], from the branch currents
  ``I = Y_f V`` (``∂|I| = Re(conj(I) ∂I)/|I|``) at the end that sets the loading.

The Jacobian is the one the batch power flow already factors, so the sensitivities cost one
extra linear solve per step (no further power flows); :func:`finite_differences` is the
reference they are tested against (pandapower's ``runpp`` with each connection perturbed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ersgrid.grid.powerflow import (
    GridCase,
    GridInputs,
    PowerFlowResult,
    branch_loadings,
    jacobian,
    solve_pandapower,
    solve_states,
)

__all__ = ["MOVED_PER_MW", "Sensitivities", "excess_kw_eq", "finite_differences", "sensitivities"]

FloatArray = npt.NDArray[np.float64]

MOVED_PER_MW = 1e-9
"""An element is moved by the road when some connection changes it by more than this per MW
[p.u./MW or %/MW]; the planner watches such elements and only their excess is priced."""
ComplexArray = npt.NDArray[np.complex128]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Sensitivities:
    """The network's state at an operating point and its derivatives by connection power.

    Attributes
    ----------
    vm_pu : ndarray [p.u.], shape (steps, buses)
        Bus voltage magnitudes (``net.bus`` order).
    line_loading_pct, trafo_loading_pct : ndarray [%], shape (steps, lines / transformers)
    dvm_pu_per_mw : ndarray [p.u./MW], shape (steps, buses, connections)
        Change of each bus voltage per MW more drawn at each road connection.
    dline_pct_per_mw, dtrafo_pct_per_mw : ndarray [%/MW], shape (steps, branches, connections)
    converged : ndarray of bool, shape (steps,)
        Steps whose operating point converged; elsewhere every value is NaN.
    """

    vm_pu: FloatArray
    line_loading_pct: FloatArray
    trafo_loading_pct: FloatArray
    dvm_pu_per_mw: FloatArray
    dline_pct_per_mw: FloatArray
    dtrafo_pct_per_mw: FloatArray
    converged: npt.NDArray[np.bool_]


def _current_sensitivity(
    v: ComplexArray, dv: ComplexArray, y_branch: ComplexArray, rows: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Current magnitude at one end of each branch row and its derivatives [p.u.]."""
    ok = np.maximum(rows, 0)
    y = y_branch[ok]
    i = v @ y.T
    di = np.einsum("rb,tbc->trc", y, dv)
    mag = np.abs(i)
    with np.errstate(invalid="ignore", divide="ignore"):
        dmag = np.where(mag[:, :, None] > 0, (np.conj(i)[:, :, None] * di).real / mag[:, :, None],
                        0.0)  # fmt: skip
    on = (rows >= 0)[None, :]
    return mag * on, dmag * on[:, :, None]


def _loading_sensitivity(
    case: GridCase, v: ComplexArray, dv: ComplexArray, rows: IntArray, per_pct: FloatArray
) -> FloatArray:
    """Derivative of each branch's loading [%/MW] at the end that sets it (the larger)."""
    if len(rows) == 0:
        return np.zeros((len(v), 0, dv.shape[2]))
    i_f, di_f = _current_sensitivity(v, dv, case.yf, rows)
    i_t, di_t = _current_sensitivity(v, dv, case.yt, rows)
    f_side = i_f * per_pct[None, :, 0] >= i_t * per_pct[None, :, 1]
    d = np.where(f_side[:, :, None], di_f * per_pct[None, :, 0, None],
                 di_t * per_pct[None, :, 1, None])  # fmt: skip
    return np.asarray(d, dtype=np.float64)


def sensitivities(case: GridCase, inputs: GridInputs) -> Sensitivities:
    """Voltages, loadings and their derivatives by each connection's power at every step.

    Parameters
    ----------
    case : GridCase
    inputs : GridInputs
        The operating point of each step (network loads and generation, the connections'
        draw).

    Returns
    -------
    Sensitivities
    """
    st = solve_states(case, inputs)
    v = st.v
    steps = len(v)
    n_conn = len(case.conn_bus)
    pvpq = np.concatenate([case.pv, case.pq])
    n_a = len(pvpq)
    tan_phi = np.sqrt(max(1.0 / case.conn_power_factor**2 - 1.0, 0.0))
    on = np.asarray(case.net.load["in_service"].to_numpy(bool)[case.conn_load], dtype=float)
    # injection of 1 MW more drawn at each connection, per unit of base power
    rhs = np.zeros((n_a + len(case.pq), n_conn))
    for c, b in enumerate(case.conn_bus):
        rhs[:n_a, c] -= (pvpq == b) * on[c] / case.base_mva
        rhs[n_a:, c] -= (case.pq == b) * on[c] * tan_phi / case.base_mva
    n_bus = case.ybus.shape[0]
    ok = st.converged
    dx = np.zeros((steps, n_a + len(case.pq), n_conn))
    if ok.any():
        jac = jacobian(case, v[ok])
        dx[ok] = np.linalg.solve(jac, np.broadcast_to(rhs, (int(ok.sum()), *rhs.shape)))
    dva = np.zeros((steps, n_bus, n_conn))
    dvm = np.zeros((steps, n_bus, n_conn))
    dva[:, pvpq] = dx[:, :n_a]
    dvm[:, case.pq] = dx[:, n_a:]
    vm = np.abs(v)
    dv = v[:, :, None] * (dvm / vm[:, :, None] + 1j * dva)
    # loading [%] per current [p.u.] at each end, as powerflow.branch_loadings computes it
    scale = case.base_mva / np.sqrt(3.0)
    line_per = np.zeros((len(case.line_rows), 2))
    if len(case.line_rows):
        line_per = scale / case.line_kv / case.line_imax_ka[:, None] * 100.0
    trafo_per = np.zeros((len(case.trafo_rows), 2))
    if len(case.trafo_rows):
        trafo_per = (scale / case.trafo_kv * case.trafo_vn_kv * np.sqrt(3.0)
                     / case.trafo_rating_mva[:, None] * 100.0)  # fmt: skip
    dline = _loading_sensitivity(case, v, dv, case.line_rows, line_per)
    dtrafo = _loading_sensitivity(case, v, dv, case.trafo_rows, trafo_per)
    line, trafo = branch_loadings(case, v)
    vm_out = vm[:, case.bus_int]
    dvm_out = dvm[:, case.bus_int]
    bad = ~ok
    for arr in (vm_out, line, trafo, dvm_out, dline, dtrafo):
        arr[bad] = np.nan
    return Sensitivities(vm_out, line, trafo, dvm_out, dline, dtrafo, ok)


def finite_differences(
    case: GridCase, inputs: GridInputs, delta_mw: float = 1e-3
) -> tuple[PowerFlowResult, FloatArray, FloatArray, FloatArray]:
    """The reference: pandapower ``runpp`` at the operating point and with each connection
    drawing ``delta_mw`` more, central differences.

    Returns
    -------
    base : PowerFlowResult
    dvm_pu_per_mw, dline_pct_per_mw, dtrafo_pct_per_mw : ndarray
        Shapes as in :class:`Sensitivities`.
    """
    base = solve_pandapower(case, inputs)
    out_v, out_l, out_t = [], [], []
    for c in range(inputs.conn_p_mw.shape[1]):
        runs = []
        for sign in (1.0, -1.0):
            p = inputs.conn_p_mw.copy()
            p[:, c] += sign * delta_mw
            runs.append(solve_pandapower(case, GridInputs(inputs.load_factor, inputs.sgen_factor,
                                                          p)))  # fmt: skip
        up, down = runs
        out_v.append((up.vm_pu - down.vm_pu) / (2 * delta_mw))
        out_l.append((up.line_loading_pct - down.line_loading_pct) / (2 * delta_mw))
        out_t.append((up.trafo_loading_pct - down.trafo_loading_pct) / (2 * delta_mw))
    return base, np.stack(out_v, axis=2), np.stack(out_l, axis=2), np.stack(out_t, axis=2)


def excess_kw_eq(
    case: GridCase,
    inputs: GridInputs,
    result: PowerFlowResult,
    voltage_min_pu: float,
    voltage_max_pu: float,
    loading_max_pct: float,
    controlled_mw: FloatArray | None = None,
) -> FloatArray:
    """Each step's excess over the network's limits that the road's draw caused, in kW of
    draw at the connection that moves each element most (kW-equivalent), summed over the
    elements.

    For element ``e`` at step ``t`` beyond its limit by ``excess`` [p.u. or %], the
    kW-equivalent is ``excess / max_s |∂value/∂P_s|``: the draw the most effective
    connection would have had to give up to keep the limit, at the linearisation of the
    realised operating point. It is the unit of the planner's network slack
    (:mod:`ersgrid.optimize.network`), so a realised violation can be priced as the plan
    prices one. Only the part of an excess the controlled draw caused counts: its linear
    effect on the element (``Σ_s ∂value/∂P_s · controlled_s``) in the direction of the
    breach, at most the excess; what the network's own loads break whatever the road does,
    and elements no connection moves (:data:`MOVED_PER_MW`), are not counted.

    Parameters
    ----------
    case : GridCase
    inputs : GridInputs
        The operating point of every step (the run's network loads, generation and road draw).
    result : PowerFlowResult
        The power flow of ``inputs`` (its voltages and loadings decide which steps break a
        limit; only those are linearised).
    voltage_min_pu, voltage_max_pu : float [p.u.]
    loading_max_pct : float [%]
    controlled_mw : ndarray [MW], shape (steps, connections), optional
        The part of each connection's draw the road's EMS controls (road, storage, V2G);
        default: the whole draw.

    Returns
    -------
    ndarray [kW-equivalent], shape (steps,)
        0 at steps within every limit and at steps whose power flow did not converge.
    """
    out = np.zeros(len(result.converged))
    if len(out) == 0:
        return out
    values = np.concatenate(
        [result.vm_pu, result.line_loading_pct, result.trafo_loading_pct], axis=1
    )
    n_bus = result.vm_pu.shape[1]
    lower = np.full(values.shape[1], -np.inf)
    upper = np.full(values.shape[1], loading_max_pct)
    lower[:n_bus], upper[:n_bus] = voltage_min_pu, voltage_max_pu
    with np.errstate(invalid="ignore"):
        excess = np.maximum(np.maximum(values - upper, lower - values), 0.0)
    excess = np.where(np.isfinite(excess), excess, 0.0)
    steps = np.flatnonzero(result.converged & (excess > 0.0).any(axis=1))
    if len(steps) == 0:
        return out
    sub = GridInputs(inputs.load_factor[steps], inputs.sgen_factor[steps], inputs.conn_p_mw[steps])
    s = sensitivities(case, sub)
    coef = np.concatenate([s.dvm_pu_per_mw, s.dline_pct_per_mw, s.dtrafo_pct_per_mw], axis=1)
    coef = np.nan_to_num(coef, nan=0.0)
    scale_per_mw = np.abs(coef).max(axis=2, initial=0.0)
    moved = scale_per_mw > MOVED_PER_MW
    controlled = inputs.conn_p_mw if controlled_mw is None else controlled_mw
    effect = np.einsum("tec,tc->te", coef, np.asarray(controlled, dtype=np.float64)[steps])
    v = values[steps]
    toward = np.where(v > upper, effect, np.where(v < lower, -effect, 0.0))
    caused = np.clip(toward, 0.0, excess[steps])
    kw_eq = np.where(moved, caused / np.where(moved, scale_per_mw, 1.0) * 1000.0, 0.0)
    out[steps] = kw_eq.sum(axis=1)
    return out
