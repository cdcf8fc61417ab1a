"""The twin's compiled step: move, meter and share power, for many steps in one call.

Vehicles live in dense struct-of-arrays (slots ``0..n_active-1``); a vehicle that leaves is
replaced by the last one (swap-remove), so every loop touches only vehicles on the road.

Priority sharing is linear-time: each vehicle requesting power falls into one of
``N_PRIORITY`` classes by its *slack* — energy it will have at its exit without more charge,
less its exit target, over its battery size (lowest slack first). Within a segment, classes
are served in order; the class where the budget runs out is served proportionally. This is
exact water-filling on the quantised priority, found in O(vehicles + touched segments ×
classes) per step, with no sort.

V2G: where the dispatch asks a segment to export (``seg_v2g_kw > 0``), vehicles that allow
V2G and hold more than they need offer power down to the energy they still need to reach
their exit target (the floor they keep for the rest of their trip), served from the highest
slack first, within the requested export, the segment's rating and the substation's V2G cap.
The other vehicles on the segment charge as usual in the same step (mixed mode): discharge
bins are ``N_PRIORITY .. 2 N_PRIORITY - 1`` beside the charge bins, each direction with its
own budget, so surplus vehicles can lower a substation's net import while needy ones charge.
The export budget is shared first; V2G vehicles whose bin it does not reach charge in that
step like any other.

Energy budgets: ``sub_energy_kwh`` (one number per substation, ``inf`` for none) is the
grid-side energy a substation may feed to charging over the call; the twin spends it as
vehicles ask (within the power limits), at each step at most what is left over the steps
left (the budget paced over the call, what one step leaves unspent carried to the next), and
stops at zero. A plan that holds a substation at a 15-min *average* power gives it that
energy rather than an instantaneous cap, so bursty traffic still gets what the plan meant,
and pacing keeps it for the vehicles that come late in the step.

Substation caps (its limit, or its paced budget): a substation whose segments ask more serves
the priority classes of all its segments in order (the neediest vehicles on any of them
first), each segment's demand taken within its own budget; the segment then water-fills its
share as above.

Column layouts of the output buffers are given by :data:`TRIP_COLUMNS` and
:data:`PASS_COLUMNS`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["N_PRIORITY", "PASS_COLUMNS", "TRIP_COLUMNS", "advance"]

N_PRIORITY = 16
TRIP_COLUMNS = (
    "vehicle_id", "vclass", "direction", "entry_ic", "exit_ic", "entry_step", "exit_step",
    "entry_energy_kwh", "exit_energy_kwh", "battery_kwh", "target_kwh",
    "received_battery_kwh", "received_grid_kwh", "depleted_kwh", "v2g_battery_kwh",
    "v2g_grid_kwh",
)  # fmt: skip
PASS_COLUMNS = ("vehicle_id", "segment", "start_step", "end_step", "battery_kwh", "grid_kwh")
"""A pass is one vehicle on one segment; V2G passes carry negative energy (out of the battery,
into the grid), charge passes positive. A pass with both is emitted as two records."""
# Columns of the per-segment accumulator ``seg_acc`` [kWh], all non-negative.
A_GRID, A_BATT, A_V2G_GRID, A_V2G_BATT, A_REQUEST, A_V2G_POTENTIAL = range(6)
N_A = 6

# Indices into the vehicle state matrix ``fs`` (float64, one row per quantity).
F_POS, F_SPEED, F_EXIT, F_ENERGY, F_FULL, F_TARGET, F_RECEIVER, F_CONS = range(8)
F_BATTERY, F_ENTRY_ENERGY, F_RECV_BATT, F_RECV_GRID, F_DEPLETED = range(8, 13)
F_PASS_BATT, F_PASS_GRID, F_REQ = range(13, 16)
# cached per vehicle: metres and driving energy per step, priority constants, the
# battery-side request of the segment it is on and where [m of travel] its stretch of the
# lookup table ends (the table is read again only there; -inf: read it at the next step)
F_STEP_M, F_STEP_KWH, F_NEED0, F_PRIO_SCALE, F_WANT, F_SEG_END = range(16, 22)
# V2G energy of the trip and of the open pass (battery and grid side, positive)
F_V2G_BATT, F_V2G_GRID, F_PASS_V2G_BATT, F_PASS_V2G_GRID = range(22, 26)
N_F = 26
# Indices into the integer state matrix ``is_`` (int64).
I_ID, I_DIR, I_CLASS, I_ENTRY_STEP, I_SEG, I_PASS_START, I_BIN, I_ENTRY_IC, I_EXIT_IC = range(9)
I_V2G = 9
N_I = 10


@njit(cache=True, error_model="numpy")
def _emit_pass(
    is_: np.ndarray, fs: np.ndarray, k: int, step: int, pass_buf: np.ndarray, pass_n: np.ndarray
) -> None:
    if is_[I_SEG, k] >= 0:
        if fs[F_PASS_GRID, k] > 0.0:
            r = pass_n[0]
            pass_buf[r, 0] = is_[I_ID, k]
            pass_buf[r, 1] = is_[I_SEG, k]
            pass_buf[r, 2] = is_[I_PASS_START, k]
            pass_buf[r, 3] = step
            pass_buf[r, 4] = fs[F_PASS_BATT, k]
            pass_buf[r, 5] = fs[F_PASS_GRID, k]
            pass_n[0] = r + 1
        if fs[F_PASS_V2G_GRID, k] > 0.0:
            r = pass_n[0]
            pass_buf[r, 0] = is_[I_ID, k]
            pass_buf[r, 1] = is_[I_SEG, k]
            pass_buf[r, 2] = is_[I_PASS_START, k]
            pass_buf[r, 3] = step
            pass_buf[r, 4] = -fs[F_PASS_V2G_BATT, k]
            pass_buf[r, 5] = -fs[F_PASS_V2G_GRID, k]
            pass_n[0] = r + 1
    fs[F_PASS_BATT, k] = 0.0
    fs[F_PASS_GRID, k] = 0.0
    fs[F_PASS_V2G_BATT, k] = 0.0
    fs[F_PASS_V2G_GRID, k] = 0.0


@njit(cache=True, error_model="numpy")
def _substation_cut(
    bin_demand: np.ndarray, seg_demand: np.ndarray, seg_sub: np.ndarray, touched: np.ndarray,
    n_touched: int, bin_lo: np.ndarray, bin_hi: np.ndarray, sub_total: np.ndarray,
    sub_cap: np.ndarray, sub_bin: np.ndarray, sub_cut: np.ndarray, sub_cutf: np.ndarray,
) -> None:  # fmt: skip
    """For each substation whose segments ask more than its cap (``sub_cap`` [kW]), the
    priority class where the cap runs out over all its segments (``sub_cut``) and the share
    of that class it serves (``sub_cutf``): a substation serves the neediest vehicles on any
    of its segments first, each segment's demand taken within its own budget."""
    n_sub = sub_total.shape[0]
    for sub in range(n_sub):
        sub_cut[sub] = N_PRIORITY
        sub_cutf[sub] = 1.0
    for t in range(n_touched):
        s = touched[t]
        sub = seg_sub[s]
        if sub_total[sub] <= sub_cap[sub]:
            continue
        top = bin_hi[s] if bin_hi[s] < N_PRIORITY else N_PRIORITY - 1
        rem = seg_demand[s]
        for b in range(bin_lo[s], top + 1):
            take = bin_demand[s, b]
            if take > rem:
                take = rem
            sub_bin[sub, b] += take
            rem -= take
    for sub in range(n_sub):
        if sub_total[sub] <= sub_cap[sub]:
            continue
        left = sub_cap[sub]
        for b in range(N_PRIORITY):
            d = sub_bin[sub, b]
            if d > 0.0 and sub_cut[sub] == N_PRIORITY:
                if d <= left:
                    left -= d
                else:
                    sub_cut[sub] = b
                    sub_cutf[sub] = left / d
            sub_bin[sub, b] = 0.0


@njit(cache=True, error_model="numpy")
def _below_cut(
    bin_demand: np.ndarray, s: int, lo: int, hi: int, budget: float, cut: int, frac: float
) -> float:
    """Segment ``s``'s share of its substation's cap [kW]: its demand within its own
    ``budget`` in the classes below ``cut``, and ``frac`` of it in class ``cut``."""
    rem = budget
    out = 0.0
    for b in range(lo, hi + 1):
        take = bin_demand[s, b]
        if take > rem:
            take = rem
        rem -= take
        if b < cut:
            out += take
        elif b == cut:
            out += take * frac
    return out


@njit(cache=True, error_model="numpy")
def _water_fill(
    bin_demand: np.ndarray, bin_frac: np.ndarray, s: int, lo: int, hi: int, budget: float
) -> None:
    """Serve segment ``s``'s priority bins ``lo .. hi`` in order from ``budget`` [kW]: whole
    bins while it lasts, the bin where it runs out in proportion (``bin_frac``)."""
    left = budget
    for b in range(lo, hi + 1):
        if left <= 0.0:
            break  # the bins above get nothing
        d = bin_demand[s, b]
        if d <= 0.0:
            continue
        if d <= left:
            bin_frac[s, b] = 1.0
            left -= d
        elif left > 0.0:
            bin_frac[s, b] = left / d
            left = 0.0


@njit(cache=True, error_model="numpy")
def advance(
    n_steps: int,
    first_step: int,
    dt_s: float,
    # arrivals (sorted by step) and the index of the next one
    arr_step: np.ndarray,
    arr_f: np.ndarray,
    arr_i: np.ndarray,
    arr_ptr: np.ndarray,
    # vehicle state
    fs: np.ndarray,
    is_: np.ndarray,
    n_active: np.ndarray,
    # layout and limits
    lut: np.ndarray,
    lut_end: np.ndarray,
    seg_vlimit_kw: np.ndarray,
    seg_coverage: np.ndarray,
    seg_eff: np.ndarray,
    seg_inv_eff: np.ndarray,
    seg_sub: np.ndarray,
    seg_rating_kw: np.ndarray,
    sub_rating_kw: np.ndarray,
    seg_limit_kw: np.ndarray,
    sub_limit_kw: np.ndarray,
    seg_v2g_kw: np.ndarray,
    sub_v2g_kw: np.ndarray,
    # accumulators over the call
    seg_acc: np.ndarray,
    sub_peak_kw: np.ndarray,
    counters: np.ndarray,
    # output buffers
    trip_buf: np.ndarray,
    trip_n: np.ndarray,
    pass_buf: np.ndarray,
    pass_n: np.ndarray,
    # scratch: the arrays of sums (``sub_bin`` among them) zero on entry and left zero on
    # return; the bin range, first requester, order and substation cap and cut arrays (set
    # here) hold anything
    seg_demand: np.ndarray,
    bin_demand: np.ndarray,
    bin_frac: np.ndarray,
    sub_total: np.ndarray,
    touched: np.ndarray,
    seg_first: np.ndarray,
    req_seg: np.ndarray,
    bin_lo: np.ndarray,
    bin_hi: np.ndarray,
    sub_v2g: np.ndarray,
    seg_v2g_demand: np.ndarray,
    sub_bin: np.ndarray,
    sub_cap: np.ndarray,
    sub_cut: np.ndarray,
    sub_cutf: np.ndarray,
    sub_energy_kwh: np.ndarray,
) -> int:
    """Advance the road by up to ``n_steps`` twin steps; return the number of steps done.

    Returns early (fewer steps) when an output buffer could overflow on the next step; the
    caller drains the buffers and calls again. Returns -1 if the vehicle table is full.
    ``counters``: [0] limit violations, [1] vehicle-steps simulated.
    """
    dt_h = dt_s / 3600.0
    inv_dt_h = 1.0 / dt_h
    cap = fs.shape[1]
    n_arr = arr_step.shape[0]
    n_sub = sub_total.shape[0]
    max_lut = lut.shape[1] - 1
    for s in range(seg_demand.shape[0]):
        bin_lo[s] = 2 * N_PRIORITY
        bin_hi[s] = -1
        seg_first[s] = cap
    for local in range(n_steps):
        step = first_step + local
        # --- entries
        while arr_ptr[0] < n_arr and arr_step[arr_ptr[0]] <= step:
            a = arr_ptr[0]
            k = n_active[0]
            if k >= cap:
                return -1
            fs[F_POS, k] = arr_f[0, a]
            fs[F_EXIT, k] = arr_f[1, a]
            fs[F_SPEED, k] = arr_f[2, a]
            fs[F_ENERGY, k] = arr_f[3, a]
            fs[F_FULL, k] = arr_f[4, a]
            fs[F_TARGET, k] = arr_f[5, a]
            fs[F_RECEIVER, k] = arr_f[6, a]
            fs[F_CONS, k] = arr_f[7, a]
            fs[F_BATTERY, k] = arr_f[8, a]
            fs[F_ENTRY_ENERGY, k] = arr_f[3, a]
            fs[F_RECV_BATT, k] = 0.0
            fs[F_RECV_GRID, k] = 0.0
            fs[F_DEPLETED, k] = 0.0
            fs[F_PASS_BATT, k] = 0.0
            fs[F_PASS_GRID, k] = 0.0
            fs[F_REQ, k] = 0.0
            fs[F_STEP_M, k] = arr_f[2, a] * dt_s
            fs[F_STEP_KWH, k] = arr_f[7, a] * arr_f[2, a] * dt_s
            # slack class = (energy + cons * pos - need0) * prio_scale + N/2
            fs[F_NEED0, k] = arr_f[5, a] + arr_f[7, a] * arr_f[1, a]
            fs[F_PRIO_SCALE, k] = (N_PRIORITY / 2.0) / arr_f[8, a]
            fs[F_WANT, k] = 0.0
            fs[F_SEG_END, k] = -np.inf
            fs[F_V2G_BATT, k] = 0.0
            fs[F_V2G_GRID, k] = 0.0
            fs[F_PASS_V2G_BATT, k] = 0.0
            fs[F_PASS_V2G_GRID, k] = 0.0
            is_[I_ID, k] = arr_i[0, a]
            is_[I_DIR, k] = arr_i[1, a]
            is_[I_CLASS, k] = arr_i[2, a]
            is_[I_ENTRY_IC, k] = arr_i[3, a]
            is_[I_EXIT_IC, k] = arr_i[4, a]
            is_[I_V2G, k] = arr_i[5, a]
            is_[I_ENTRY_STEP, k] = step
            is_[I_SEG, k] = -1
            is_[I_PASS_START, k] = step
            is_[I_BIN, k] = 0
            n_active[0] = k + 1
            arr_ptr[0] = a + 1
        n = n_active[0]
        if trip_n[0] + n > trip_buf.shape[0] or pass_n[0] + 2 * n > pass_buf.shape[0]:
            return local
        # --- move, exit, consume, request (downwards so swap-remove keeps order valid)
        i = n - 1
        n_seen = 0  # vehicles that stay, in the order this loop meets them
        while i >= 0:
            pos = fs[F_POS, i] + fs[F_STEP_M, i]
            fs[F_POS, i] = pos
            if pos >= fs[F_EXIT, i]:
                _emit_pass(is_, fs, i, step, pass_buf, pass_n)
                r = trip_n[0]
                trip_buf[r, 0] = is_[I_ID, i]
                trip_buf[r, 1] = is_[I_CLASS, i]
                trip_buf[r, 2] = is_[I_DIR, i]
                trip_buf[r, 3] = is_[I_ENTRY_IC, i]
                trip_buf[r, 4] = is_[I_EXIT_IC, i]
                trip_buf[r, 5] = is_[I_ENTRY_STEP, i]
                trip_buf[r, 6] = step
                trip_buf[r, 7] = fs[F_ENTRY_ENERGY, i]
                trip_buf[r, 8] = fs[F_ENERGY, i]
                trip_buf[r, 9] = fs[F_BATTERY, i]
                trip_buf[r, 10] = fs[F_TARGET, i]
                trip_buf[r, 11] = fs[F_RECV_BATT, i]
                trip_buf[r, 12] = fs[F_RECV_GRID, i]
                trip_buf[r, 13] = fs[F_DEPLETED, i]
                trip_buf[r, 14] = fs[F_V2G_BATT, i]
                trip_buf[r, 15] = fs[F_V2G_GRID, i]
                trip_n[0] = r + 1
                last = n_active[0] - 1
                if i != last:
                    for q in range(N_F):
                        fs[q, i] = fs[q, last]
                    for q in range(N_I):
                        is_[q, i] = is_[q, last]
                n_active[0] = last
                i -= 1
                continue
            energy = fs[F_ENERGY, i] - fs[F_STEP_KWH, i]
            if energy < 0.0:
                fs[F_DEPLETED, i] += -energy
                energy = 0.0
            fs[F_ENERGY, i] = energy
            seg = is_[I_SEG, i]
            if pos >= fs[F_SEG_END, i]:
                cell = int(pos)
                if cell > max_lut:
                    cell = max_lut
                d = is_[I_DIR, i]
                fs[F_SEG_END, i] = lut_end[d, cell]
                if lut[d, cell] != seg:
                    seg = lut[d, cell]
                    _emit_pass(is_, fs, i, step, pass_buf, pass_n)
                    is_[I_SEG, i] = seg
                    is_[I_PASS_START, i] = step
                    if seg >= 0:
                        fs[F_WANT, i] = (
                            min(fs[F_RECEIVER, i], seg_vlimit_kw[seg]) * seg_coverage[seg]
                        )
            fs[F_REQ, i] = 0.0
            asked_seg = -1
            if seg >= 0:
                want = fs[F_WANT, i]
                slack_kwh = energy + fs[F_CONS, i] * pos - fs[F_NEED0, i]
                b = int(slack_kwh * fs[F_PRIO_SCALE, i] + N_PRIORITY / 2.0)
                b = min(max(b, 0), N_PRIORITY - 1)
                grid = 0.0
                export = False
                offer = min(slack_kwh * inv_dt_h, want)
                if is_[I_V2G, i] == 0 or slack_kwh <= 0.0:
                    offer = 0.0
                seg_acc[seg, A_V2G_POTENTIAL] += offer * seg_eff[seg] * dt_h  # + 0 if none
                if seg_v2g_kw[seg] > 0.0 and offer > 1e-9:
                    grid = offer * seg_eff[seg]
                    # discharge bins sit above the charge bins; highest slack first
                    b = 2 * N_PRIORITY - 1 - b
                    export = True
                if not export:
                    room = (fs[F_FULL, i] - energy) * inv_dt_h
                    if room < want:
                        want = room
                    grid = want * seg_inv_eff[seg] if want > 1e-9 else 0.0
                # Without branches on the request (adding 0 changes no sum): a vehicle
                # asking nothing leaves the bin range and the first requester as they are.
                asks = grid > 0.0
                is_[I_BIN, i] = b
                fs[F_REQ, i] = grid
                bin_lo[seg] = min(bin_lo[seg], b if asks else 2 * N_PRIORITY)
                bin_hi[seg] = max(bin_hi[seg], b if asks else -1)
                seg_first[seg] = min(seg_first[seg], n_seen if asks else cap)
                asked_seg = seg if asks else -1
                if export:
                    seg_v2g_demand[seg] += grid
                else:
                    seg_demand[seg] += grid
                bin_demand[seg, b] += grid
            req_seg[n_seen] = asked_seg
            n_seen += 1
            i -= 1
        # segments in the order their first requester came in the loop above (the sums per
        # substation below depend on it), found in a pass of their own: a running "touched
        # yet?" test in that loop cost more than this pass
        n = n_active[0]
        n_touched = 0
        for r in range(n_seen):
            seg = req_seg[r]
            touched[n_touched] = seg
            n_touched += seg >= 0 and seg_first[seg] == r
        counters[1] += n
        # --- V2G first: segment and substation export budgets, highest slack first
        any_v2g = False
        for t in range(n_touched):
            s = touched[t]
            if seg_v2g_demand[s] > 0.0:
                export = min(seg_v2g_demand[s], seg_v2g_kw[s], seg_rating_kw[s])
                sub_v2g[seg_sub[s]] += export
                seg_v2g_demand[s] = export
                any_v2g = True
        if any_v2g:
            for t in range(n_touched):
                s = touched[t]
                export = seg_v2g_demand[s]
                if export <= 0.0:
                    continue
                sub = seg_sub[s]
                if sub_v2g[sub] > sub_v2g_kw[sub]:
                    export *= sub_v2g_kw[sub] / sub_v2g[sub]
                bottom = bin_lo[s] if bin_lo[s] > N_PRIORITY else N_PRIORITY
                _water_fill(bin_demand, bin_frac, s, bottom, bin_hi[s], export)
            # V2G vehicles the export does not need charge like the others in this step
            for i in range(n):
                b = is_[I_BIN, i]
                if fs[F_REQ, i] <= 0.0 or b < N_PRIORITY:
                    continue
                s = is_[I_SEG, i]
                if bin_frac[s, b] > 0.0:
                    continue
                fs[F_REQ, i] = 0.0
                want = fs[F_WANT, i]
                room = (fs[F_FULL, i] - fs[F_ENERGY, i]) * inv_dt_h
                if room < want:
                    want = room
                if want <= 1e-9:
                    continue
                grid = want * seg_inv_eff[s]
                cb = 2 * N_PRIORITY - 1 - b
                is_[I_BIN, i] = cb
                fs[F_REQ, i] = grid
                if cb < bin_lo[s]:
                    bin_lo[s] = cb
                seg_demand[s] += grid
                bin_demand[s, cb] += grid
        # --- charging: segment budgets, then substation caps
        for t in range(n_touched):
            s = touched[t]
            seg_acc[s, A_REQUEST] += seg_demand[s] * dt_h
            budget = min(seg_demand[s], seg_limit_kw[s])
            sub_total[seg_sub[s]] += budget
            seg_demand[s] = budget
        # an energy budget is paced over the steps left in the call
        left_h = (n_steps - local) * dt_h
        any_over = False
        for sub in range(n_sub):
            cap_kw = sub_energy_kwh[sub] / left_h
            if sub_limit_kw[sub] < cap_kw:
                cap_kw = sub_limit_kw[sub]
            sub_cap[sub] = cap_kw
            if sub_total[sub] > cap_kw:
                any_over = True
        if any_over:
            _substation_cut(
                bin_demand, seg_demand, seg_sub, touched, n_touched, bin_lo, bin_hi, sub_total,
                sub_cap, sub_bin, sub_cut, sub_cutf,
            )  # fmt: skip
        for t in range(n_touched):
            s = touched[t]
            sub = seg_sub[s]
            top = bin_hi[s] if bin_hi[s] < N_PRIORITY else N_PRIORITY - 1
            budget = seg_demand[s]
            if sub_total[sub] > sub_cap[sub]:
                budget = _below_cut(bin_demand, s, bin_lo[s], top, budget, sub_cut[sub],
                                    sub_cutf[sub])  # fmt: skip
            if budget > seg_rating_kw[s] * (1.0 + 1e-9):
                counters[0] += 1
            _water_fill(bin_demand, bin_frac, s, bin_lo[s], top, budget)
        for sub in range(n_sub):
            served = min(sub_total[sub], sub_cap[sub])
            left_kwh = sub_energy_kwh[sub] - served * dt_h
            sub_energy_kwh[sub] = left_kwh if left_kwh > 0.0 else 0.0
            if served > sub_rating_kw[sub] * (1.0 + 1e-9):
                counters[0] += 1
            net = served - min(sub_v2g[sub], sub_v2g_kw[sub])
            if net > sub_peak_kw[sub]:
                sub_peak_kw[sub] = net
            sub_total[sub] = 0.0
            sub_v2g[sub] = 0.0
        # --- deliver and meter
        for i in range(n):
            grid = fs[F_REQ, i]
            if grid <= 0.0:
                continue
            s = is_[I_SEG, i]
            b = is_[I_BIN, i]
            grid *= bin_frac[s, b]
            if b >= N_PRIORITY:
                e_grid = grid * dt_h
                e_batt = e_grid / seg_eff[s]
                fs[F_ENERGY, i] -= e_batt
                fs[F_V2G_BATT, i] += e_batt
                fs[F_V2G_GRID, i] += e_grid
                fs[F_PASS_V2G_BATT, i] += e_batt
                fs[F_PASS_V2G_GRID, i] += e_grid
                seg_acc[s, A_V2G_GRID] += e_grid
                seg_acc[s, A_V2G_BATT] += e_batt
                continue
            e_grid = grid * dt_h
            e_batt = grid * seg_eff[s] * dt_h
            fs[F_ENERGY, i] += e_batt
            fs[F_RECV_BATT, i] += e_batt
            fs[F_RECV_GRID, i] += e_grid
            fs[F_PASS_BATT, i] += e_batt
            fs[F_PASS_GRID, i] += e_grid
            seg_acc[s, A_GRID] += e_grid
            seg_acc[s, A_BATT] += e_batt
        # --- clear scratch
        for t in range(n_touched):
            s = touched[t]
            seg_demand[s] = 0.0
            seg_v2g_demand[s] = 0.0
            for b in range(bin_lo[s], bin_hi[s] + 1):
                bin_demand[s, b] = 0.0
                bin_frac[s, b] = 0.0
            bin_lo[s] = 2 * N_PRIORITY
            bin_hi[s] = -1
            seg_first[s] = cap
    return n_steps


@njit(cache=True, error_model="numpy")
def close_passes(
    step: int,
    fs: np.ndarray,
    is_: np.ndarray,
    n_active: np.ndarray,
    pass_buf: np.ndarray,
    pass_n: np.ndarray,
) -> None:
    """Emit the open pass of every vehicle on the road (at the end of a run)."""
    for i in range(n_active[0]):
        _emit_pass(is_, fs, i, step, pass_buf, pass_n)
        is_[I_PASS_START, i] = step


def empty_state(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Float and integer vehicle-state matrices for ``capacity`` vehicles."""
    return np.zeros((N_F, capacity)), np.zeros((N_I, capacity), dtype=np.int64)
