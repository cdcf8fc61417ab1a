"""AC power flow of the distribution network at every planning step.

The network does not change during a run; only the injections do. :func:`compile_case`
lets pandapower build the network's admittance matrices once (one ``runpp`` at nominal
injections), and :func:`solve_batch` then runs Newton-Raphson for many steps at once: the
same equations and the same tolerance as pandapower's solver, vectorised over steps (a
stack of small dense Jacobians solved together), warm-started from the nominal solution.
:func:`solve_pandapower` runs pandapower's ``runpp`` step by step (warm-started with
``init="results"``) as the reference; tests assert the two agree.

Injections per step come as :class:`GridInputs`: a factor per network load and static
generator (their nominal p_mw and q_mvar times the factor) and the net active power of each
road connection (import positive) at the scenario's power factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.errors import GridError

__all__ = [
    "GridCase",
    "GridInputs",
    "PowerFlowResult",
    "States",
    "branch_loadings",
    "compile_case",
    "injections_mva",
    "jacobian",
    "solve_batch",
    "solve_pandapower",
    "solve_states",
]

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]
IntArray = npt.NDArray[np.int64]

TOLERANCE_MVA = 1e-8
"""Largest power mismatch of a converged step [MVA] (pandapower's default)."""

_UNSUPPORTED = ("storage", "ward", "xward", "motor", "asymmetric_load", "asymmetric_sgen",
                "impedance", "dcline", "svc", "tcsc", "ssc", "vsc", "trafo3w")  # fmt: skip
"""Elements the batch solver does not model; a network with any in service needs pandapower."""


@dataclass(frozen=True)
class GridCase:
    """A compiled network: admittances, bus types and element-to-bus maps.

    Attributes
    ----------
    net : pandapowerNet
        The network with one load ``ERS <substation>`` added per road connection.
    base_mva : float [MVA]
    ybus, yf, yt : ndarray
        Dense bus admittance and from/to branch admittance matrices [p.u.].
    ref, pv, pq : ndarray of int
        Internal bus indices by type.
    v0 : ndarray of complex [p.u.]
        Converged voltages at nominal injections (the warm start).
    bus_int : ndarray of int
        Internal index of each network bus (``net.bus`` order).
    bus_names : list of str
    conn_load : ndarray of int
        Index in ``net.load`` of the load that stands for each road connection.
    conn_bus : ndarray of int
        Internal bus of each road connection.
    load_bus, sgen_bus, gen_bus : ndarray of int
        Internal bus of each in-service network load (excluding connections), sgen and gen.
    load_s_mva, sgen_s_mva : ndarray of complex [MVA]
        Nominal power of each load and sgen (scaling applied).
    gen_p_mw : ndarray [MW]
    load_names, sgen_types : list of str
    line_rows, trafo_rows : ndarray of int
        Internal branch rows of lines and transformers (-1 if out of service).
    line_kv, trafo_kv : ndarray [kV], shape (n, 2)
        Base voltage at the from/to (hv/lv) end.
    line_imax_ka : ndarray [kA]
    trafo_vn_kv : ndarray [kV], shape (n, 2)
        Rated voltages of the hv and lv winding.
    trafo_rating_mva : ndarray [MVA]
        sn_mva × parallel × df.
    line_names, trafo_names : list of str
    """

    net: Any
    base_mva: float
    ybus: ComplexArray
    yf: ComplexArray
    yt: ComplexArray
    ref: IntArray
    pv: IntArray
    pq: IntArray
    v0: ComplexArray
    bus_int: IntArray
    bus_names: list[str]
    conn_load: IntArray
    conn_bus: IntArray
    load_bus: IntArray
    load_s_mva: ComplexArray
    load_names: list[str]
    sgen_bus: IntArray
    sgen_s_mva: ComplexArray
    sgen_types: list[str]
    gen_bus: IntArray
    gen_p_mw: FloatArray
    line_rows: IntArray
    line_kv: FloatArray
    line_imax_ka: FloatArray
    line_names: list[str]
    trafo_rows: IntArray
    trafo_kv: FloatArray
    trafo_vn_kv: FloatArray
    trafo_rating_mva: FloatArray
    trafo_names: list[str]
    conn_power_factor: float

    def bus_label(self, internal: int) -> str:
        """Name of the network bus behind an internal bus index (pandapower adds auxiliary
        buses, e.g. at open line switches)."""
        hits = np.flatnonzero(self.bus_int == internal)
        return self.bus_names[int(hits[0])] if len(hits) else f"auxiliary bus {internal}"

    @property
    def sizes(self) -> tuple[int, int, int]:
        """Counts of buses, lines and transformers."""
        return len(self.bus_int), len(self.line_rows), len(self.trafo_rows)


@dataclass(frozen=True)
class GridInputs:
    """Injections of each step.

    Attributes
    ----------
    load_factor : ndarray [-], shape (steps, network loads)
        Multiplier of each network load's nominal power.
    sgen_factor : ndarray [-], shape (steps, sgens)
        Multiplier of each static generator's nominal power.
    conn_p_mw : ndarray [MW], shape (steps, connections)
        Net active power drawn at each road connection (import positive, export negative).
    """

    load_factor: FloatArray
    sgen_factor: FloatArray
    conn_p_mw: FloatArray


@dataclass(frozen=True)
class PowerFlowResult:
    """Voltages and loadings of every step.

    Attributes
    ----------
    vm_pu : ndarray [p.u.], shape (steps, buses)
    line_loading_pct, trafo_loading_pct : ndarray [%], shape (steps, lines / transformers)
    converged : ndarray of bool, shape (steps,)
    iterations : ndarray of int, shape (steps,)
    mismatch_mva : ndarray [MVA], shape (steps,)
        Largest power mismatch at the end.
    worst_bus : ndarray of int, shape (steps,)
        Internal bus with the largest mismatch (see :meth:`GridCase.bus_label`).
    """

    vm_pu: FloatArray
    line_loading_pct: FloatArray
    trafo_loading_pct: FloatArray
    converged: npt.NDArray[np.bool_]
    iterations: IntArray
    mismatch_mva: FloatArray
    worst_bus: IntArray


def _solve_each(jac: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve a stack of systems; a singular one gives NaN without spoiling the others."""
    try:
        return np.asarray(np.linalg.solve(jac, rhs[:, :, None])[:, :, 0], dtype=np.float64)
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for i in range(len(jac)):
            try:
                out[i] = np.linalg.solve(jac[i], rhs[i])
            except np.linalg.LinAlgError:
                continue
        return out


def in_service(frame: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(frame["in_service"].to_numpy(bool), dtype=bool)


def compile_case(net: Any, conn_buses: list[str], power_factor: float = 1.0) -> GridCase:
    """Add one load per road connection and build the admittance matrices.

    Parameters
    ----------
    net : pandapowerNet
        Modified in place (connection loads added).
    conn_buses : list of str
        Bus name of each road connection, in substation order.
    power_factor : float [-]
        Lagging power factor of the connections' net load.

    Raises
    ------
    GridError
        If a bus name is unknown, the network holds elements the batch solver does not
        model, or the nominal power flow does not converge.
    """
    import pandapower as pp

    names = [str(n) for n in net.bus["name"].tolist()]
    conn_idx = []
    for bus in conn_buses:
        hits = [i for i, n in zip(net.bus.index, names, strict=True) if n == bus]
        if len(hits) != 1:
            raise GridError(
                f"grid.connections: bus {bus!r} {'is ambiguous' if hits else 'does not exist'} "
                f"in the network; buses: {names}"
            )
        conn_idx.append(hits[0])
    for element in _UNSUPPORTED:
        frame = net.get(element, None)
        if frame is not None and len(frame) and in_service(frame).any():
            raise GridError(
                f"the network has in-service {element} elements, which the batch power flow "
                "does not model; set grid.solver: pandapower"
            )
    loads = net.load
    if len(loads) and (
        np.any(loads.get("const_z_p_percent", 0) != 0)
        or np.any(loads.get("const_i_p_percent", 0) != 0)
    ):
        raise GridError("network loads must be constant power for the batch power flow")
    n_own = len(loads)
    conn_load = np.array(
        [pp.create_load(net, b, p_mw=0.0, q_mvar=0.0, name=f"ERS {b}") for b in conn_idx],
        dtype=np.int64,
    )
    try:
        pp.runpp(net, numba=False)
    except pp.LoadflowNotConverged:
        raise GridError("the network's power flow at nominal loads does not converge") from None
    ppci = net._ppc["internal"]
    base = float(ppci["baseMVA"])
    lookup = np.asarray(net._pd2ppc_lookups["bus"], dtype=np.int64)
    bus_int = lookup[net.bus.index.to_numpy()]
    kv = np.asarray(ppci["bus"][:, 9].real, dtype=float)  # BASE_KV
    branch_is = np.asarray(ppci["branch_is"], dtype=bool)
    row_of = np.where(branch_is, np.cumsum(branch_is) - 1, -1)
    fb = np.asarray(ppci["branch"][:, 0].real, dtype=np.int64)
    tb = np.asarray(ppci["branch"][:, 1].real, dtype=np.int64)

    def rows(kind: str, n: int) -> IntArray:
        if kind not in net._pd2ppc_lookups["branch"]:
            return np.zeros(0, dtype=np.int64)
        f, t = net._pd2ppc_lookups["branch"][kind]
        out = row_of[f:t]
        assert len(out) == n
        return np.asarray(out, dtype=np.int64)

    line_rows = rows("line", len(net.line))
    trafo_rows = rows("trafo", len(net.trafo))

    def ends_kv(r: IntArray) -> FloatArray:
        ok = np.maximum(r, 0)
        return np.column_stack([kv[fb[ok]], kv[tb[ok]]]) if len(r) else np.zeros((0, 2))

    own = loads.iloc[:n_own]
    own_on = in_service(own)
    load_bus = lookup[own["bus"].to_numpy()][own_on]
    load_s = (own["p_mw"].to_numpy() + 1j * own["q_mvar"].to_numpy()) * own["scaling"].to_numpy()
    sg = net.sgen
    sg_on = in_service(sg) if len(sg) else np.zeros(0, dtype=bool)
    sgen_s = (sg["p_mw"].to_numpy() + 1j * sg["q_mvar"].to_numpy()) * sg["scaling"].to_numpy()
    gen = net.gen
    gen_on = in_service(gen) if len(gen) else np.zeros(0, dtype=bool)
    case = GridCase(
        net=net,
        base_mva=base,
        ybus=np.asarray(ppci["Ybus"].toarray(), dtype=np.complex128),
        yf=np.asarray(ppci["Yf"].toarray(), dtype=np.complex128),
        yt=np.asarray(ppci["Yt"].toarray(), dtype=np.complex128),
        ref=np.asarray(ppci["ref"], dtype=np.int64),
        pv=np.asarray(ppci["pv"], dtype=np.int64),
        pq=np.asarray(ppci["pq"], dtype=np.int64),
        v0=np.asarray(ppci["V"], dtype=np.complex128),
        bus_int=bus_int,
        bus_names=names,
        conn_load=conn_load,
        conn_bus=lookup[np.asarray(conn_idx, dtype=np.int64)],
        load_bus=load_bus,
        load_s_mva=np.asarray(load_s[own_on], dtype=np.complex128),
        load_names=[str(n) for n in own["name"].to_numpy()[own_on]],
        sgen_bus=lookup[sg["bus"].to_numpy()][sg_on] if len(sg) else np.zeros(0, np.int64),
        sgen_s_mva=np.asarray(sgen_s[sg_on], dtype=np.complex128),
        sgen_types=[str(t) for t in sg["type"].to_numpy()[sg_on]] if len(sg) else [],
        gen_bus=lookup[gen["bus"].to_numpy()][gen_on] if len(gen) else np.zeros(0, np.int64),
        gen_p_mw=(gen["p_mw"] * gen["scaling"]).to_numpy()[gen_on] if len(gen) else np.zeros(0),
        line_rows=line_rows,
        line_kv=ends_kv(line_rows),
        line_imax_ka=(net.line["max_i_ka"] * net.line["df"] * net.line["parallel"]).to_numpy(float),
        line_names=[str(n) for n in net.line["name"]],
        trafo_rows=trafo_rows,
        trafo_kv=ends_kv(trafo_rows),
        trafo_vn_kv=net.trafo[["vn_hv_kv", "vn_lv_kv"]].to_numpy(float),
        trafo_rating_mva=(net.trafo["sn_mva"] * net.trafo["parallel"] * net.trafo["df"]).to_numpy(
            float
        ),
        trafo_names=[str(n) for n in net.trafo["name"]],
        conn_power_factor=power_factor,
    )
    return case


def injections_mva(case: GridCase, inputs: GridInputs) -> ComplexArray:
    """Complex power injected at each internal bus at each step [MVA] (generation positive)."""
    n_bus = case.ybus.shape[0]
    steps = inputs.conn_p_mw.shape[0]
    s = np.zeros((steps, n_bus), dtype=np.complex128)
    tan_phi = np.sqrt(max(1.0 / case.conn_power_factor**2 - 1.0, 0.0))
    on = np.asarray(case.net.load["in_service"].to_numpy(bool)[case.conn_load])
    conn_s = inputs.conn_p_mw * (1.0 + 1j * tan_phi) * on[None, :]
    for cols, bus, sign in (
        (inputs.load_factor[:, :, None] * case.load_s_mva[None, :, None], case.load_bus, -1.0),
        (inputs.sgen_factor[:, :, None] * case.sgen_s_mva[None, :, None], case.sgen_bus, 1.0),
        (conn_s[:, :, None], case.conn_bus, -1.0),
    ):
        for j, b in enumerate(bus):
            s[:, b] += sign * cols[:, j, 0]
    for p, b in zip(case.gen_p_mw, case.gen_bus, strict=True):
        s[:, b] += p
    return s


def branch_loadings(case: GridCase, v: ComplexArray) -> tuple[FloatArray, FloatArray]:
    """Loading of each line and transformer [%] at the states ``v`` [p.u.], shape (steps,
    internal buses): the larger end's current against the rating, as pandapower reports it."""
    i_f = np.abs(v @ case.yf.T)
    i_t = np.abs(v @ case.yt.T)
    scale = case.base_mva / np.sqrt(3.0)

    def currents(rows: IntArray, kv: FloatArray) -> FloatArray:
        if len(rows) == 0:
            return np.zeros((len(v), 0, 2))
        ok = rows >= 0
        r = np.maximum(rows, 0)
        both = np.stack([i_f[:, r] / kv[None, :, 0], i_t[:, r] / kv[None, :, 1]], axis=2) * scale
        return np.asarray(both * ok[None, :, None], dtype=np.float64)

    line_i = currents(case.line_rows, case.line_kv)
    line = line_i.max(axis=2) / case.line_imax_ka[None, :] * 100.0
    tr_i = currents(case.trafo_rows, case.trafo_kv)
    trafo = (tr_i * case.trafo_vn_kv[None, :, :]).max(axis=2) * np.sqrt(3.0)
    trafo = trafo / case.trafo_rating_mva[None, :] * 100.0
    return np.asarray(line, dtype=np.float64), np.asarray(trafo, dtype=np.float64)


def jacobian(case: GridCase, v: ComplexArray) -> FloatArray:
    """Power-flow Jacobians of a stack of states, as pandapower and MATPOWER build them.

    Parameters
    ----------
    v : ndarray of complex [p.u.], shape (steps, internal buses)

    Returns
    -------
    ndarray, shape (steps, n, n)
        Derivatives of the active mismatch at PV and PQ buses and of the reactive mismatch
        at PQ buses (rows) by the angles at PV and PQ buses and the magnitudes at PQ buses
        (columns) [p.u. per rad, p.u. per p.u.].
    """
    y = case.ybus
    n = y.shape[0]
    pvpq = np.concatenate([case.pv, case.pq])
    n_a, n_m = len(pvpq), len(case.pq)
    eye = np.eye(n, dtype=bool)
    ib = v @ y.T
    vnorm = v / np.abs(v)
    d_vm = v[:, :, None] * np.conj(y[None, :, :] * vnorm[:, None, :])
    d_vm[:, eye] += np.conj(ib) * vnorm
    d_va = -1j * v[:, :, None] * np.conj(y[None, :, :] * v[:, None, :])
    d_va[:, eye] += 1j * v * np.conj(ib)
    jac = np.empty((len(v), n_a + n_m, n_a + n_m))
    jac[:, :n_a, :n_a] = d_va[:, pvpq][:, :, pvpq].real
    jac[:, :n_a, n_a:] = d_vm[:, pvpq][:, :, case.pq].real
    jac[:, n_a:, :n_a] = d_va[:, case.pq][:, :, pvpq].imag
    jac[:, n_a:, n_a:] = d_vm[:, case.pq][:, :, case.pq].imag
    return jac


@dataclass(frozen=True)
class States:
    """Complex bus voltages of every step and how the Newton-Raphson ended.

    Attributes
    ----------
    v : ndarray of complex [p.u.], shape (steps, internal buses)
    converged : ndarray of bool, shape (steps,)
    iterations : ndarray of int, shape (steps,)
    mismatch_mva : ndarray [MVA], shape (steps,)
    worst_bus : ndarray of int, shape (steps,)
    """

    v: ComplexArray
    converged: npt.NDArray[np.bool_]
    iterations: IntArray
    mismatch_mva: FloatArray
    worst_bus: IntArray


def solve_states(
    case: GridCase, inputs: GridInputs, max_iter: int = 10, chunk: int = 2048
) -> States:
    """Newton-Raphson of every step of ``inputs`` at once (see :func:`solve_batch`)."""
    s_all = injections_mva(case, inputs) / case.base_mva
    steps = s_all.shape[0]
    pvpq = np.concatenate([case.pv, case.pq])
    n_a = len(pvpq)
    y = case.ybus
    v_all = np.tile(case.v0, (steps, 1))
    iters = np.zeros(steps, dtype=np.int64)
    mism = np.zeros(steps)
    worst = np.zeros(steps, dtype=np.int64)
    converged = np.zeros(steps, dtype=bool)
    tol = TOLERANCE_MVA / case.base_mva
    for lo in range(0, steps, chunk):
        sl = slice(lo, min(lo + chunk, steps))
        v = v_all[sl].copy()
        s = s_all[sl]
        vm, va = np.abs(v), np.angle(v)
        active = np.ones(len(v), dtype=bool)
        it = np.zeros(len(v), dtype=np.int64)
        for _ in range(max_iter + 1):
            i_bus = v @ y.T
            mis = v * np.conj(i_bus) - s
            f = np.concatenate([mis[:, pvpq].real, mis[:, case.pq].imag], axis=1)
            err = np.abs(f).max(axis=1) if f.shape[1] else np.zeros(len(v))
            active = ~(err < tol)  # NaN stays active
            if not active.any() or it.max() >= max_iter:
                break
            a = np.flatnonzero(active)
            va_, vm_ = va[a], vm[a]
            dx = _solve_each(jacobian(case, v[a]), -f[a])
            va_[:, pvpq] += dx[:, :n_a]
            vm_[:, case.pq] += dx[:, n_a:]
            va[a], vm[a] = va_, vm_
            v[a] = vm_ * np.exp(1j * va_)
            it[a] += 1
        v_all[sl] = v
        iters[sl] = it
        mism[sl] = np.nan_to_num(err, nan=np.inf) * case.base_mva
        worst_eq = np.argmax(np.nan_to_num(np.abs(f), nan=np.inf), axis=1) if f.shape[1] else 0
        idx = np.concatenate([pvpq, case.pq])
        worst[sl] = idx[worst_eq] if len(idx) else 0
        converged[sl] = err < tol
    return States(v_all, converged, iters, mism, worst)


def solve_batch(
    case: GridCase, inputs: GridInputs, max_iter: int = 10, chunk: int = 2048
) -> PowerFlowResult:
    """Newton-Raphson power flow of every step of ``inputs`` at once.

    Polar Newton-Raphson as in pandapower and MATPOWER (unknowns: angles at PV and PQ buses,
    magnitudes at PQ buses), with the Jacobians of all unconverged steps solved together.
    A step has converged when its largest power mismatch is below :data:`TOLERANCE_MVA`.
    """
    st = solve_states(case, inputs, max_iter, chunk)
    vm_out = np.abs(st.v[:, case.bus_int])
    line, trafo = branch_loadings(case, st.v)
    bad = ~st.converged
    vm_out[bad] = np.nan
    line[bad] = np.nan
    trafo[bad] = np.nan
    return PowerFlowResult(vm_out, line, trafo, st.converged, st.iterations, st.mismatch_mva,
                           st.worst_bus)  # fmt: skip


def solve_pandapower(case: GridCase, inputs: GridInputs, warm: bool = True) -> PowerFlowResult:
    """The reference: pandapower ``runpp`` step by step (``init='results'`` when ``warm``)."""
    import pandapower as pp

    net = case.net
    own = np.flatnonzero(~np.isin(np.arange(len(net.load)), case.conn_load))
    own_on = own[in_service(net.load.iloc[own])]
    sg_on = np.flatnonzero(in_service(net.sgen)) if len(net.sgen) else np.zeros(0, np.int64)
    p0 = net.load["p_mw"].to_numpy(float).copy()
    q0 = net.load["q_mvar"].to_numpy(float).copy()
    sp0 = net.sgen["p_mw"].to_numpy(float).copy()
    sq0 = net.sgen["q_mvar"].to_numpy(float).copy()
    tan_phi = np.sqrt(max(1.0 / case.conn_power_factor**2 - 1.0, 0.0))
    steps = inputs.conn_p_mw.shape[0]
    n_bus, n_line, n_trafo = case.sizes
    vm = np.full((steps, n_bus), np.nan)
    line = np.full((steps, n_line), np.nan)
    trafo = np.full((steps, n_trafo), np.nan)
    conv = np.zeros(steps, dtype=bool)
    iters = np.zeros(steps, dtype=np.int64)
    try:
        for k in range(steps):
            p = p0.copy()
            q = q0.copy()
            p[own_on] = p0[own_on] * inputs.load_factor[k]
            q[own_on] = q0[own_on] * inputs.load_factor[k]
            p[case.conn_load] = inputs.conn_p_mw[k]
            q[case.conn_load] = inputs.conn_p_mw[k] * tan_phi
            net.load["p_mw"] = p
            net.load["q_mvar"] = q
            if len(sg_on):
                sp, sq = sp0.copy(), sq0.copy()
                sp[sg_on] = sp0[sg_on] * inputs.sgen_factor[k]
                sq[sg_on] = sq0[sg_on] * inputs.sgen_factor[k]
                net.sgen["p_mw"] = sp
                net.sgen["q_mvar"] = sq
            try:
                pp.runpp(net, numba=False, init="results" if warm and k else "auto")
            except pp.LoadflowNotConverged:
                continue
            conv[k] = True
            iters[k] = int(net._ppc["iterations"])
            vm[k] = net.res_bus["vm_pu"].to_numpy(float)
            line[k] = net.res_line["loading_percent"].to_numpy(float)
            trafo[k] = net.res_trafo["loading_percent"].to_numpy(float)
    finally:
        net.load["p_mw"] = p0
        net.load["q_mvar"] = q0
        if len(net.sgen):
            net.sgen["p_mw"] = sp0
            net.sgen["q_mvar"] = sq0
    return PowerFlowResult(vm, line, trafo, conv, iters, np.where(conv, 0.0, np.inf),
                           np.zeros(steps, dtype=np.int64))  # fmt: skip
