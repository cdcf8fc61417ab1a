"""The twin's compiled step: move, meter and share power, for many steps in one call.

Vehicles live in dense struct-of-arrays (slots ``0..n_active-1``); a vehicle that leaves is
replaced by the last one (swap-remove), so every loop touches only vehicles on the road.

One twin step is a sequence of named phases, each a small compiled function inlined into
:func:`advance` (so the split costs nothing at run time):

1. :func:`_enter`: vehicles whose arrival step has come take the next free slots.
2. :func:`_move_and_request`, per vehicle (downwards, so swap-remove keeps the order valid):
   move; :func:`_exit` at the vehicle's exit (its last pass and its trip record);
   consume; :func:`_find_segment` when the vehicle crosses the end of the stretch it was
   on; :func:`_request` (its charge or V2G offer, in its priority class).
3. :func:`_share_v2g`: segment and substation export budgets, served highest slack first;
   V2G vehicles the export does not reach charge like the others.
4. :func:`_share_charge`: segment budgets, substation caps and energy budgets, served
   lowest slack first; :func:`_settle_substations` meters the substations.
5. :func:`_deliver`: energy into (or out of) each battery, the vehicle's and the segment's
   meters.
6. :func:`_clear`: the scratch the step used, back to its empty state.

Segment lookup: a table maps every metre of each direction to its segment (``-1`` none)
and, beside it, to the first metre past the stretch of that segment (``lut_end``). A
vehicle keeps the end of its stretch and looks the table up only when it passes it (every
segment length, not every step); positions only grow, so this finds the same segment as a
lookup at every step.

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
vehicles ask (within the power limits) and stops at zero. A plan that holds a substation at
a 15-min *average* power gives it that energy rather than an instantaneous cap, so bursty
traffic still gets what the plan meant.

The kernel's arguments come in a few named tuples of arrays (:class:`Road`,
:class:`Limits`, :class:`Entries`, :class:`Fleet`, :class:`Meters`, :class:`Records`,
:class:`Scratch`). Column layouts of the output buffers are given by :data:`TRIP_COLUMNS` and
:data:`PASS_COLUMNS`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = [
    "N_PRIORITY",
    "PASS_COLUMNS",
    "TRIP_COLUMNS",
    "Entries",
    "Fleet",
    "Limits",
    "Meters",
    "Records",
    "Road",
    "Scratch",
    "advance",
    "close_passes",
    "empty_scratch",
    "empty_state",
    "lut_run_end",
]

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
# cached per vehicle: metres and driving energy per step, priority constants, and the
# battery-side request and inverse efficiency of the segment it is on
F_STEP_M, F_STEP_KWH, F_NEED0, F_PRIO_SCALE, F_WANT, F_INV_EFF = range(16, 22)
# V2G energy of the trip and of the open pass (battery and grid side, positive)
F_V2G_BATT, F_V2G_GRID, F_PASS_V2G_BATT, F_PASS_V2G_GRID = range(22, 26)
# travel position [m] where the stretch of the lookup table the vehicle is on ends
F_SEG_END = 26
N_F = 27
# Indices into the integer state matrix ``is_`` (int64).
I_ID, I_DIR, I_CLASS, I_ENTRY_STEP, I_SEG, I_PASS_START, I_BIN, I_ENTRY_IC, I_EXIT_IC = range(9)
I_V2G = 9
N_I = 10

_NO_BIN = 2 * N_PRIORITY  # ``bin_lo`` of a segment nobody asked power from this step


class Road(NamedTuple):
    """The corridor as the kernel reads it, fixed over a run.

    Attributes
    ----------
    lut : ndarray of int, shape (2, cells)
        Segment under each metre of each direction's travel coordinate (-1: none).
    lut_end : ndarray of float, shape (2, cells) [m]
        First metre past the stretch of equal ``lut`` entries that holds each metre
        (``inf`` for the stretch that reaches the end of the table), see :func:`lut_run_end`.
    seg_vlimit_kw, seg_coverage, seg_eff : ndarray [kW], [-], [-]
        Per segment: power one vehicle may draw, share of it covered, efficiency.
    seg_sub : ndarray of int
        Substation of each segment.
    seg_rating_kw, sub_rating_kw : ndarray [kW]
        Ratings of segments and substations (a step above one is counted).
    """

    lut: np.ndarray
    lut_end: np.ndarray
    seg_vlimit_kw: np.ndarray
    seg_coverage: np.ndarray
    seg_eff: np.ndarray
    seg_sub: np.ndarray
    seg_rating_kw: np.ndarray
    sub_rating_kw: np.ndarray


class Limits(NamedTuple):
    """The dispatch over one call, all non-negative [kW] but the energy budget [kWh]."""

    seg_limit_kw: np.ndarray
    sub_limit_kw: np.ndarray
    seg_v2g_kw: np.ndarray
    sub_v2g_kw: np.ndarray
    sub_energy_kwh: np.ndarray


class Entries(NamedTuple):
    """Arrivals sorted by step: step, float and integer columns, index of the next one."""

    step: np.ndarray
    f: np.ndarray
    i: np.ndarray
    ptr: np.ndarray


class Fleet(NamedTuple):
    """Vehicle state: float rows ``F_*``, integer rows ``I_*``, vehicles on the road."""

    fs: np.ndarray
    is_: np.ndarray
    n_active: np.ndarray


class Meters(NamedTuple):
    """Accumulators over a call: ``seg_acc`` [kWh] (columns ``A_*``), ``sub_peak_kw`` [kW],
    ``counters``: [0] limit violations, [1] vehicle-steps simulated."""

    seg_acc: np.ndarray
    sub_peak_kw: np.ndarray
    counters: np.ndarray


class Records(NamedTuple):
    """Output buffers of trips and passes and the rows filled in each."""

    trip_buf: np.ndarray
    trip_n: np.ndarray
    pass_buf: np.ndarray
    pass_n: np.ndarray


class Scratch(NamedTuple):
    """Per-step work arrays, empty (:func:`empty_scratch`) on entry and on return."""

    seg_demand: np.ndarray
    seg_v2g_demand: np.ndarray
    bin_demand: np.ndarray
    bin_frac: np.ndarray
    sub_total: np.ndarray
    sub_v2g: np.ndarray
    touched: np.ndarray
    bin_lo: np.ndarray
    bin_hi: np.ndarray


def empty_state(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Float and integer vehicle-state matrices for ``capacity`` vehicles."""
    return np.zeros((N_F, capacity)), np.zeros((N_I, capacity), dtype=np.int64)


def empty_scratch(n_seg: int, n_sub: int) -> Scratch:
    """Empty per-step work arrays for ``n_seg`` segments and ``n_sub`` substations."""
    return Scratch(
        seg_demand=np.zeros(n_seg),
        seg_v2g_demand=np.zeros(n_seg),
        # charge bins 0 .. N-1, V2G discharge bins N .. 2N-1
        bin_demand=np.zeros((n_seg, 2 * N_PRIORITY)),
        bin_frac=np.zeros((n_seg, 2 * N_PRIORITY)),
        sub_total=np.zeros(n_sub),
        sub_v2g=np.zeros(n_sub),
        touched=np.zeros(n_seg + 1, dtype=np.int64),
        bin_lo=np.full(n_seg, _NO_BIN, dtype=np.int64),
        bin_hi=np.full(n_seg, -1, dtype=np.int64),
    )


def lut_run_end(lut: np.ndarray) -> np.ndarray:
    """For each metre of each row of ``lut``, the first metre past its stretch of equal
    entries [m] (``inf`` for the last stretch, which positions past the table also use)."""
    out = np.empty(lut.shape, dtype=np.float64)
    cells = np.arange(lut.shape[1])
    for d in range(lut.shape[0]):
        starts = np.flatnonzero(lut[d, 1:] != lut[d, :-1]) + 1
        ends = np.append(starts.astype(np.float64), np.inf)
        out[d] = ends[np.searchsorted(starts, cells, side="right")]
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _emit_pass(
    fs: np.ndarray, is_: np.ndarray, k: int, step: int, pass_buf: np.ndarray, pass_n: np.ndarray
) -> None:
    """Close vehicle ``k``'s open pass at ``step``: a charge and a V2G record if it has them."""
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


@njit(cache=True, error_model="numpy", inline="always")
def _water_fill(
    bin_demand: np.ndarray, bin_frac: np.ndarray, s: int, lo: int, hi: int, budget: float
) -> None:
    """Serve segment ``s``'s priority bins ``lo .. hi`` in order from ``budget`` [kW]: whole
    bins while it lasts, the bin where it runs out in proportion (``bin_frac``)."""
    left = budget
    for b in range(lo, hi + 1):
        d = bin_demand[s, b]
        if d <= 0.0:
            continue
        if d <= left:
            bin_frac[s, b] = 1.0
            left -= d
        elif left > 0.0:
            bin_frac[s, b] = left / d
            left = 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _enter(step: int, dt_s: float, ent: Entries, fleet: Fleet) -> bool:
    """Vehicles arriving by ``step`` take the next slots; False if the table is full."""
    fs, is_, arr_f, arr_i = fleet.fs, fleet.is_, ent.f, ent.i
    cap = fs.shape[1]
    n_arr = ent.step.shape[0]
    while ent.ptr[0] < n_arr and ent.step[ent.ptr[0]] <= step:
        a = ent.ptr[0]
        k = fleet.n_active[0]
        if k >= cap:
            return False
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
        fs[F_INV_EFF, k] = 0.0
        fs[F_V2G_BATT, k] = 0.0
        fs[F_V2G_GRID, k] = 0.0
        fs[F_PASS_V2G_BATT, k] = 0.0
        fs[F_PASS_V2G_GRID, k] = 0.0
        fs[F_SEG_END, k] = -np.inf  # look the segment up on the first move
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
        fleet.n_active[0] = k + 1
        ent.ptr[0] = a + 1
    return True


@njit(cache=True, error_model="numpy", inline="always")
def _exit(
    fs: np.ndarray,
    is_: np.ndarray,
    n_active: np.ndarray,
    i: int,
    step: int,
    trip_buf: np.ndarray,
    trip_n: np.ndarray,
    pass_buf: np.ndarray,
    pass_n: np.ndarray,
) -> None:
    """Vehicle ``i`` leaves at ``step``: its last pass, its trip, the last vehicle in its slot."""
    _emit_pass(fs, is_, i, step, pass_buf, pass_n)
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


@njit(cache=True, error_model="numpy", inline="always")
def _find_segment(
    fs: np.ndarray,
    is_: np.ndarray,
    i: int,
    pos: float,
    step: int,
    lut: np.ndarray,
    lut_end: np.ndarray,
    seg_vlimit_kw: np.ndarray,
    seg_coverage: np.ndarray,
    seg_eff: np.ndarray,
    pass_buf: np.ndarray,
    pass_n: np.ndarray,
) -> None:
    """Vehicle ``i`` passed the end of its stretch: look up its segment at ``pos`` [m]; on a
    new one, close the old pass and cache the request constants of the new segment."""
    max_cell = lut.shape[1] - 1
    cell = int(pos)
    if cell > max_cell:
        cell = max_cell
    d = is_[I_DIR, i]
    seg = lut[d, cell]
    fs[F_SEG_END, i] = lut_end[d, cell]
    if seg != is_[I_SEG, i]:
        _emit_pass(fs, is_, i, step, pass_buf, pass_n)
        is_[I_SEG, i] = seg
        is_[I_PASS_START, i] = step
        if seg >= 0:
            fs[F_WANT, i] = min(fs[F_RECEIVER, i], seg_vlimit_kw[seg]) * seg_coverage[seg]
            fs[F_INV_EFF, i] = 1.0 / seg_eff[seg]


@njit(cache=True, error_model="numpy", inline="always")
def _request(
    fs: np.ndarray,
    is_: np.ndarray,
    i: int,
    seg: int,
    energy: float,
    pos: float,
    dt_h: float,
    inv_dt_h: float,
    seg_eff: np.ndarray,
    seg_v2g_kw: np.ndarray,
    acc: np.ndarray,
    seg_demand: np.ndarray,
    seg_v2g_demand: np.ndarray,
    bin_demand: np.ndarray,
    bin_lo: np.ndarray,
    bin_hi: np.ndarray,
    touched: np.ndarray,
    n_touched: int,
) -> int:
    """Vehicle ``i`` on segment ``seg`` asks for charge, or offers V2G where the segment
    exports, in its priority bin; meters its V2G potential. Returns the touched count."""
    want = fs[F_WANT, i]
    slack_kwh = energy + fs[F_CONS, i] * pos - fs[F_NEED0, i]
    b = int(slack_kwh * fs[F_PRIO_SCALE, i] + N_PRIORITY / 2.0)
    if b < 0:
        b = 0
    elif b >= N_PRIORITY:
        b = N_PRIORITY - 1
    grid = 0.0
    export = False
    # V2G potential without a branch on the vehicle's V2G flag (a coin flip per vehicle,
    # which the branch predictor cannot learn): a vehicle without it adds exactly zero
    offer = slack_kwh * inv_dt_h
    if offer > want:
        offer = want
    can_v2g = (is_[I_V2G, i] != 0) & (slack_kwh > 0.0)
    acc[seg, A_V2G_POTENTIAL] += (offer * seg_eff[seg] if can_v2g else 0.0) * dt_h
    # the segment's export request first: false for every vehicle where none is asked
    if seg_v2g_kw[seg] > 0.0 and can_v2g and offer > 1e-9:
        grid = offer * seg_eff[seg]
        # discharge bins sit above the charge bins; highest slack first
        b = 2 * N_PRIORITY - 1 - b
        export = True
    if not export:
        room = (fs[F_FULL, i] - energy) * inv_dt_h
        if room < want:
            want = room
        if want > 1e-9:
            grid = want * fs[F_INV_EFF, i]
    if grid > 0.0:
        is_[I_BIN, i] = b
        fs[F_REQ, i] = grid
        if bin_hi[seg] < 0:
            touched[n_touched] = seg
            n_touched += 1
        bin_lo[seg] = min(bin_lo[seg], b)
        bin_hi[seg] = max(bin_hi[seg], b)
        if export:
            seg_v2g_demand[seg] += grid
        else:
            seg_demand[seg] += grid
        bin_demand[seg, b] += grid
    return n_touched


@njit(cache=True, error_model="numpy", inline="always")
def _move_and_request(
    step: int,
    dt_h: float,
    fleet: Fleet,
    road: Road,
    lim: Limits,
    met: Meters,
    rec: Records,
    sc: Scratch,
) -> int:
    """Move every vehicle, let those at their exit leave, consume, and collect requests.
    Returns the number of segments touched (listed in ``sc.touched``)."""
    fs, is_, n_active = fleet.fs, fleet.is_, fleet.n_active
    trip_buf, trip_n, pass_buf, pass_n = rec.trip_buf, rec.trip_n, rec.pass_buf, rec.pass_n
    lut, lut_end, seg_eff = road.lut, road.lut_end, road.seg_eff
    seg_vlimit_kw, seg_coverage, seg_v2g_kw = road.seg_vlimit_kw, road.seg_coverage, lim.seg_v2g_kw
    acc, seg_demand, seg_v2g_demand = met.seg_acc, sc.seg_demand, sc.seg_v2g_demand
    bin_demand, bin_lo, bin_hi, touched = sc.bin_demand, sc.bin_lo, sc.bin_hi, sc.touched
    inv_dt_h = 1.0 / dt_h
    n_touched = 0
    i = n_active[0] - 1
    while i >= 0:
        pos = fs[F_POS, i] + fs[F_STEP_M, i]
        fs[F_POS, i] = pos
        if pos >= fs[F_EXIT, i]:
            _exit(fs, is_, n_active, i, step, trip_buf, trip_n, pass_buf, pass_n)
            i -= 1
            continue
        energy = fs[F_ENERGY, i] - fs[F_STEP_KWH, i]
        if energy < 0.0:
            fs[F_DEPLETED, i] += -energy
            energy = 0.0
        fs[F_ENERGY, i] = energy
        if pos >= fs[F_SEG_END, i]:
            _find_segment(fs, is_, i, pos, step, lut, lut_end, seg_vlimit_kw, seg_coverage,
                          seg_eff, pass_buf, pass_n)  # fmt: skip
        fs[F_REQ, i] = 0.0
        seg = is_[I_SEG, i]
        if seg >= 0:
            n_touched = _request(fs, is_, i, seg, energy, pos, dt_h, inv_dt_h, seg_eff,
                                 seg_v2g_kw, acc, seg_demand, seg_v2g_demand, bin_demand,
                                 bin_lo, bin_hi, touched, n_touched)  # fmt: skip
        i -= 1
    return n_touched


@njit(cache=True, error_model="numpy", inline="always")
def _share_v2g(
    n_touched: int, dt_h: float, fleet: Fleet, road: Road, lim: Limits, sc: Scratch
) -> None:
    """Serve the V2G offers within the segments' and substations' export budgets, highest
    slack first; offers the export does not reach turn into charge requests."""
    touched = sc.touched
    seg_v2g_demand = sc.seg_v2g_demand
    seg_v2g_kw = lim.seg_v2g_kw
    seg_rating_kw = road.seg_rating_kw
    sub_v2g = sc.sub_v2g
    seg_sub = road.seg_sub
    sub_v2g_kw = lim.sub_v2g_kw
    bin_lo = sc.bin_lo
    bin_demand = sc.bin_demand
    bin_frac = sc.bin_frac
    bin_hi = sc.bin_hi
    n_active = fleet.n_active
    is_ = fleet.is_
    fs = fleet.fs
    seg_demand = sc.seg_demand
    any_v2g = False
    for t in range(n_touched):
        s = touched[t]
        if seg_v2g_demand[s] > 0.0:
            export = min(seg_v2g_demand[s], seg_v2g_kw[s], seg_rating_kw[s])
            sub_v2g[seg_sub[s]] += export
            seg_v2g_demand[s] = export
            any_v2g = True
    if not any_v2g:
        return
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
    inv_dt_h = 1.0 / dt_h
    for i in range(n_active[0]):
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
        grid = want * fs[F_INV_EFF, i]
        cb = 2 * N_PRIORITY - 1 - b
        is_[I_BIN, i] = cb
        fs[F_REQ, i] = grid
        if cb < bin_lo[s]:
            bin_lo[s] = cb
        seg_demand[s] += grid
        bin_demand[s, cb] += grid


@njit(cache=True, error_model="numpy", inline="always")
def _share_charge(
    n_touched: int, dt_h: float, road: Road, lim: Limits, met: Meters, sc: Scratch
) -> None:
    """Serve the charge requests: segment budgets, then the substations' power and energy
    caps, lowest slack first; count budgets above a segment's rating."""
    touched = sc.touched
    seg_acc = met.seg_acc
    seg_demand = sc.seg_demand
    seg_limit_kw = lim.seg_limit_kw
    sub_total = sc.sub_total
    seg_sub = road.seg_sub
    sub_limit_kw = lim.sub_limit_kw
    sub_energy_kwh = lim.sub_energy_kwh
    seg_rating_kw = road.seg_rating_kw
    counters = met.counters
    bin_hi = sc.bin_hi
    bin_demand = sc.bin_demand
    bin_frac = sc.bin_frac
    bin_lo = sc.bin_lo
    inv_dt_h = 1.0 / dt_h
    for t in range(n_touched):
        s = touched[t]
        seg_acc[s, A_REQUEST] += seg_demand[s] * dt_h
        budget = min(seg_demand[s], seg_limit_kw[s])
        sub_total[seg_sub[s]] += budget
        seg_demand[s] = budget
    for t in range(n_touched):
        s = touched[t]
        sub = seg_sub[s]
        budget = seg_demand[s]
        sub_cap = min(sub_limit_kw[sub], sub_energy_kwh[sub] * inv_dt_h)
        if sub_total[sub] > sub_cap:
            budget *= sub_cap / sub_total[sub]
        if budget > seg_rating_kw[s] * (1.0 + 1e-9):
            counters[0] += 1
        top = bin_hi[s] if bin_hi[s] < N_PRIORITY else N_PRIORITY - 1
        _water_fill(bin_demand, bin_frac, s, bin_lo[s], top, budget)


@njit(cache=True, error_model="numpy", inline="always")
def _settle_substations(dt_h: float, road: Road, lim: Limits, met: Meters, sc: Scratch) -> None:
    """Each substation's served power: spend its energy budget, count it above its rating,
    keep its peak net of V2G, and clear its totals."""
    sub_total = sc.sub_total
    sub_limit_kw = lim.sub_limit_kw
    sub_energy_kwh = lim.sub_energy_kwh
    sub_rating_kw = road.sub_rating_kw
    counters = met.counters
    sub_v2g = sc.sub_v2g
    sub_v2g_kw = lim.sub_v2g_kw
    sub_peak_kw = met.sub_peak_kw
    inv_dt_h = 1.0 / dt_h
    for sub in range(sub_total.shape[0]):
        served = min(sub_total[sub], sub_limit_kw[sub], sub_energy_kwh[sub] * inv_dt_h)
        left_kwh = sub_energy_kwh[sub] - served * dt_h
        sub_energy_kwh[sub] = left_kwh if left_kwh > 0.0 else 0.0
        if served > sub_rating_kw[sub] * (1.0 + 1e-9):
            counters[0] += 1
        net = served - min(sub_v2g[sub], sub_v2g_kw[sub])
        if net > sub_peak_kw[sub]:
            sub_peak_kw[sub] = net
        sub_total[sub] = 0.0
        sub_v2g[sub] = 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _deliver(dt_h: float, fleet: Fleet, road: Road, acc: np.ndarray, sc: Scratch) -> None:
    """Each requesting vehicle gets its bin's share: energy into (charge) or out of (V2G)
    its battery, on its trip's and pass's meters and its segment's."""
    n_active = fleet.n_active
    fs = fleet.fs
    is_ = fleet.is_
    bin_frac = sc.bin_frac
    seg_eff = road.seg_eff
    for i in range(n_active[0]):
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
            acc[s, A_V2G_GRID] += e_grid
            acc[s, A_V2G_BATT] += e_batt
            continue
        e_grid = grid * dt_h
        e_batt = grid * seg_eff[s] * dt_h
        fs[F_ENERGY, i] += e_batt
        fs[F_RECV_BATT, i] += e_batt
        fs[F_RECV_GRID, i] += e_grid
        fs[F_PASS_BATT, i] += e_batt
        fs[F_PASS_GRID, i] += e_grid
        acc[s, A_GRID] += e_grid
        acc[s, A_BATT] += e_batt


@njit(cache=True, error_model="numpy", inline="always")
def _clear(n_touched: int, sc: Scratch) -> None:
    """Return the touched segments' scratch to empty."""
    touched = sc.touched
    seg_demand = sc.seg_demand
    seg_v2g_demand = sc.seg_v2g_demand
    bin_lo = sc.bin_lo
    bin_hi = sc.bin_hi
    bin_demand = sc.bin_demand
    bin_frac = sc.bin_frac
    for t in range(n_touched):
        s = touched[t]
        seg_demand[s] = 0.0
        seg_v2g_demand[s] = 0.0
        for b in range(bin_lo[s], bin_hi[s] + 1):
            bin_demand[s, b] = 0.0
            bin_frac[s, b] = 0.0
        bin_lo[s] = _NO_BIN
        bin_hi[s] = -1


@njit(cache=True, error_model="numpy")
def advance(
    n_steps: int,
    first_step: int,
    dt_s: float,
    ent: Entries,
    fleet: Fleet,
    road: Road,
    lim: Limits,
    met: Meters,
    rec: Records,
    sc: Scratch,
) -> int:
    """Advance the road by up to ``n_steps`` twin steps; return the number of steps done.

    Returns early (fewer steps) when an output buffer could overflow on the next step; the
    caller drains the buffers and calls again. Returns -1 if the vehicle table is full.
    ``lim.sub_energy_kwh`` is spent as the substations feed charging.
    """
    dt_h = dt_s / 3600.0
    for local in range(n_steps):
        step = first_step + local
        if not _enter(step, dt_s, ent, fleet):
            return -1
        n = fleet.n_active[0]
        if (
            rec.trip_n[0] + n > rec.trip_buf.shape[0]
            or rec.pass_n[0] + 2 * n > rec.pass_buf.shape[0]
        ):
            return local
        n_touched = _move_and_request(step, dt_h, fleet, road, lim, met, rec, sc)
        met.counters[1] += fleet.n_active[0]
        _share_v2g(n_touched, dt_h, fleet, road, lim, sc)
        _share_charge(n_touched, dt_h, road, lim, met, sc)
        _settle_substations(dt_h, road, lim, met, sc)
        _deliver(dt_h, fleet, road, met.seg_acc, sc)
        _clear(n_touched, sc)
    return n_steps


@njit(cache=True, error_model="numpy")
def close_passes(step: int, fleet: Fleet, rec: Records) -> None:
    """Emit the open pass of every vehicle on the road (at the end of a run)."""
    fs, is_, pass_buf, pass_n = fleet.fs, fleet.is_, rec.pass_buf, rec.pass_n
    for i in range(fleet.n_active[0]):
        _emit_pass(fs, is_, i, step, pass_buf, pass_n)
        is_[I_PASS_START, i] = step
