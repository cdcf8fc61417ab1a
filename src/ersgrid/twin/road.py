"""The road-and-vehicle twin: state, arrivals and meters around the compiled kernel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import SimulationError
from ersgrid.scenario.layout import Layout
from ersgrid.twin import kernel
from ersgrid.world.arrivals import Arrivals

__all__ = ["BlockReport", "RoadTwin", "TwinState"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BlockReport:
    """What the twin measured over one block of steps (normally one planning step).

    Attributes
    ----------
    duration_h : float [h]
    seg_grid_kwh, seg_battery_kwh : ndarray [kWh]
        Charging energy metered per segment on the grid side and into batteries.
    seg_v2g_grid_kwh, seg_v2g_battery_kwh : ndarray [kWh]
        V2G energy per segment delivered to the grid and taken out of batteries (positive).
    seg_request_kwh : ndarray [kWh]
        Charging energy the vehicles asked for, before dispatch limits (grid side).
    seg_v2g_potential_kwh : ndarray [kWh]
        Energy V2G vehicles could have returned, keeping what they need to their exit target
        (grid side).
    sub_grid_kwh : ndarray [kWh]
        Net grid-side energy per substation: charging minus V2G.
    sub_peak_kw : ndarray [kW]
        Highest net power of each substation at any twin step of the block.
    vehicles_on_road : int
    mean_soc : float [-]
        Mean state of charge of the vehicles on the road at the end of the block (NaN if none).
    """

    duration_h: float
    seg_grid_kwh: FloatArray
    seg_battery_kwh: FloatArray
    seg_v2g_grid_kwh: FloatArray
    seg_v2g_battery_kwh: FloatArray
    seg_request_kwh: FloatArray
    seg_v2g_potential_kwh: FloatArray
    sub_grid_kwh: FloatArray
    sub_peak_kw: FloatArray
    vehicles_on_road: int
    mean_soc: float


@dataclass(frozen=True)
class TwinState:
    """The vehicles on the road at one moment, exactly as the twin holds them.

    Made by :meth:`RoadTwin.snapshot` and taken by :meth:`RoadTwin.restore`: a run that
    starts from it carries on with the same vehicles (ids, positions, energy, trip and pass
    accounting) as one long run would.

    Attributes
    ----------
    step : int
        Twin step of the snapshot, counted from the start of the run that took it.
    dt_s : float [s]
        Twin step the state was simulated at.
    floats : ndarray, shape (quantities, vehicles)
        The kernel's float state of each vehicle (position [m], energy [kWh], ...).
    ints : ndarray of int64, shape (quantities, vehicles)
        The kernel's integer state of each vehicle (id, direction, class, entry step, ...).
    """

    step: int
    dt_s: float
    floats: FloatArray
    ints: IntArray

    @property
    def n_vehicles(self) -> int:
        """Vehicles on the road [-]."""
        return int(self.floats.shape[1])

    @property
    def vehicle_id(self) -> IntArray:
        """Id of each vehicle on the road."""
        out: IntArray = self.ints[kernel.I_ID].copy()
        return out

    @property
    def energy_kwh(self) -> FloatArray:
        """Battery energy of each vehicle on the road [kWh]."""
        out: FloatArray = self.floats[kernel.F_ENERGY].copy()
        return out


def lookup_ends(lut: npt.NDArray[np.int32]) -> FloatArray:
    """Where each cell's stretch of equal entries in the segment lookup table ends.

    Parameters
    ----------
    lut : ndarray of int32, shape (2, cells)
        Segment (or -1) of each metre of travel [m], one row per direction.

    Returns
    -------
    ndarray, shape (2, cells) [m]
        For each cell, the first cell after it with another entry (``inf`` if none): a
        vehicle whose travel stays below it keeps the segment it looked up.
    """
    out = np.empty(lut.shape, dtype=np.float64)
    cells = np.arange(lut.shape[1])
    for d in range(lut.shape[0]):
        starts = np.flatnonzero(np.diff(lut[d]) != 0) + 1  # first cells of new stretches
        ends = np.append(starts.astype(np.float64), np.inf)
        out[d] = ends[np.searchsorted(starts, cells, side="right")]
    return out


class RoadTwin:
    """Vectorised twin of an electrified corridor and the ERS vehicles on it.

    Parameters
    ----------
    layout : Layout
    arrivals : Arrivals
        Vehicles entering during the run, sorted by time.
    dt_s : float [s]
        Twin step.
    capacity : int
        Most vehicles on the road at once.
    first_step : int
        Twin step the twin starts at (negative for a warm-up before the run's start at step
        0; arrivals then have negative ``time_s``).
    """

    def __init__(
        self,
        layout: Layout,
        arrivals: Arrivals,
        dt_s: float,
        capacity: int,
        first_step: int = 0,
    ) -> None:
        self.layout = layout
        self.dt_s = float(dt_s)
        self.step = int(first_step)
        n_seg, n_sub = layout.n_segments, layout.n_substations
        self._arr_step = np.floor(arrivals.time_s / self.dt_s).astype(np.int64)
        self._arr_f = np.ascontiguousarray(
            np.vstack(
                [
                    arrivals.entry_m,
                    arrivals.exit_m,
                    arrivals.speed_mps,
                    arrivals.energy_kwh,
                    arrivals.full_kwh,
                    arrivals.target_kwh,
                    arrivals.receiver_kw,
                    arrivals.consumption_kwh_per_m,
                    arrivals.battery_kwh,
                ]
            ).reshape(9, len(arrivals))
        )
        self._arr_i = np.ascontiguousarray(
            np.vstack(
                [
                    arrivals.vehicle_id,
                    arrivals.direction,
                    arrivals.vclass,
                    arrivals.entry_ic,
                    arrivals.exit_ic,
                    arrivals.v2g,
                ]
            )
            .astype(np.int64)
            .reshape(6, len(arrivals))
        )
        self._arr_ptr = np.zeros(1, dtype=np.int64)
        self._fs, self._is = kernel.empty_state(capacity)
        self._n_active = np.zeros(1, dtype=np.int64)
        self.counters = np.zeros(2, dtype=np.int64)
        buf = max(4 * capacity // 10, 50_000)
        self._trip_buf = np.zeros((buf, len(kernel.TRIP_COLUMNS)))
        self._trip_n = np.zeros(1, dtype=np.int64)
        self._pass_buf = np.zeros((buf, len(kernel.PASS_COLUMNS)))
        self._pass_n = np.zeros(1, dtype=np.int64)
        self._seg_demand = np.zeros(n_seg)
        # charge bins 0 .. N-1, V2G discharge bins N .. 2N-1
        self._bin_demand = np.zeros((n_seg, 2 * kernel.N_PRIORITY))
        self._bin_frac = np.zeros((n_seg, 2 * kernel.N_PRIORITY))
        self._seg_v2g_demand = np.zeros(n_seg)
        self._sub_total = np.zeros(n_sub)
        self._touched = np.zeros(n_seg + 1, dtype=np.int64)  # one spare slot
        self._seg_first = np.zeros(n_seg, dtype=np.int64)
        self._req_seg = np.zeros(capacity, dtype=np.int64)
        self._bin_lo = np.zeros(n_seg, dtype=np.int64)
        self._bin_hi = np.zeros(n_seg, dtype=np.int64)
        self._sub_v2g = np.zeros(n_sub)
        self._sub_bin = np.zeros((n_sub, kernel.N_PRIORITY))
        self._sub_cap = np.zeros(n_sub)
        self._sub_cut = np.zeros(n_sub, dtype=np.int64)
        self._sub_cutf = np.zeros(n_sub)
        self._trips: list[FloatArray] = []
        self._passes: list[FloatArray] = []
        self._vlimit = np.ascontiguousarray(layout.seg_vehicle_limit_kw)
        self._seg_inv_eff = 1.0 / np.asarray(layout.seg_efficiency, dtype=np.float64)
        self._lut_end = lookup_ends(layout.lut)
        self._seg_sub = layout.seg_substation.astype(np.int64)
        self.under_way_ids: IntArray = np.zeros(0, dtype=np.int64)
        """Ids of the vehicles on the road when counting started (:meth:`start_counting`)."""
        self.under_way_km: FloatArray = np.zeros(0)
        """Their road kilometre then [km]."""

    @property
    def vehicles_on_road(self) -> int:
        """Number of vehicles on the road now."""
        return int(self._n_active[0])

    @property
    def vehicle_steps(self) -> int:
        """Vehicle-steps simulated so far."""
        return int(self.counters[1])

    @property
    def limit_violations(self) -> int:
        """Twin steps at which a segment or substation exceeded its rating."""
        return int(self.counters[0])

    def state(self) -> pd.DataFrame:
        """The vehicles on the road now, one row each (for strategies and dashboards).

        ``entry_step`` is the twin step of entry; ``entry_ic``/``exit_ic`` the interchanges
        (toll systems record them).
        """
        n = self.vehicles_on_road
        fs, is_ = self._fs[:, :n], self._is[:, :n]
        return pd.DataFrame(
            {
                "vehicle_id": is_[kernel.I_ID],
                "vclass": is_[kernel.I_CLASS],
                "direction": is_[kernel.I_DIR],
                "position_m": fs[kernel.F_POS],
                "exit_m": fs[kernel.F_EXIT],
                "speed_mps": fs[kernel.F_SPEED],
                "energy_kwh": fs[kernel.F_ENERGY],
                "battery_kwh": fs[kernel.F_BATTERY],
                "target_kwh": fs[kernel.F_TARGET],
                "full_kwh": fs[kernel.F_FULL],
                "consumption_kwh_per_m": fs[kernel.F_CONS],
                "receiver_kw": fs[kernel.F_RECEIVER],
                "segment": is_[kernel.I_SEG],
                "v2g": is_[kernel.I_V2G].astype(bool),
                "entry_step": is_[kernel.I_ENTRY_STEP],
                "entry_ic": is_[kernel.I_ENTRY_IC],
                "exit_ic": is_[kernel.I_EXIT_IC],
            }
        )

    def segments_and_soc(self) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """Segment index (-1 where none) and state of charge [-] of each vehicle on the road.

        A cheap subset of :meth:`state` for live views that need it at every tick.
        """
        n = self.vehicles_on_road
        soc = self._fs[kernel.F_ENERGY, :n] / self._fs[kernel.F_BATTERY, :n]
        return self._is[kernel.I_SEG, :n].astype(np.int64), soc

    def advance(
        self,
        n_steps: int,
        seg_limit_kw: FloatArray,
        sub_limit_kw: FloatArray,
        seg_v2g_kw: FloatArray | None = None,
        sub_v2g_kw: FloatArray | None = None,
        sub_energy_kwh: FloatArray | None = None,
    ) -> BlockReport:
        """Run ``n_steps`` twin steps under per-segment and per-substation limits.

        Parameters
        ----------
        n_steps : int
        seg_limit_kw : ndarray [kW]
            Grid-side power each segment may draw (the dispatch).
        sub_limit_kw : ndarray [kW]
            Grid-side power each substation may feed to the road.
        seg_v2g_kw : ndarray [kW], optional
            Grid-side power each segment should return from V2G vehicles; on a segment with
            a positive value, V2G vehicles above their exit need discharge while the others
            charge within ``seg_limit_kw`` (mixed mode).
        sub_v2g_kw : ndarray [kW], optional
            Most V2G power each substation takes back in total (unlimited if omitted).
        sub_energy_kwh : ndarray [kWh], optional
            Grid-side energy each substation may feed to charging over these steps, spent as
            vehicles ask (``inf`` or omitted: no budget).
        """
        lay = self.layout
        seg_limit = np.ascontiguousarray(seg_limit_kw, dtype=np.float64)
        sub_limit = np.ascontiguousarray(sub_limit_kw, dtype=np.float64)
        v2g = (
            np.zeros(lay.n_segments)
            if seg_v2g_kw is None
            else np.ascontiguousarray(seg_v2g_kw, dtype=np.float64)
        )
        if (
            seg_limit.shape != (lay.n_segments,)
            or sub_limit.shape != (lay.n_substations,)
            or v2g.shape != (lay.n_segments,)
        ):
            raise SimulationError(
                f"dispatch has {seg_limit.shape} segment, {sub_limit.shape} substation and "
                f"{v2g.shape} V2G limits; the corridor has {lay.n_segments} segments and "
                f"{lay.n_substations} substations"
            )
        sub_v2g = (
            np.full(lay.n_substations, np.inf)
            if sub_v2g_kw is None
            else np.ascontiguousarray(sub_v2g_kw, dtype=np.float64)
        )
        if sub_v2g.shape != (lay.n_substations,) or np.any(np.isnan(sub_v2g)):
            raise SimulationError(
                f"sub_v2g_kw needs {lay.n_substations} numbers, got shape {sub_v2g.shape}"
            )
        if not all(np.all(np.isfinite(a)) for a in (seg_limit, sub_limit, v2g)):
            raise SimulationError("dispatch limits must be finite numbers")
        budget = (
            np.full(lay.n_substations, np.inf)
            if sub_energy_kwh is None
            else np.array(sub_energy_kwh, dtype=np.float64)
        )
        if budget.shape != (lay.n_substations,) or np.any(np.isnan(budget)) or np.any(budget < 0):
            raise SimulationError(
                f"sub_energy_kwh needs {lay.n_substations} non-negative numbers, got {budget}"
            )
        acc = np.zeros((lay.n_segments, kernel.N_A))
        sub_peak = np.full(lay.n_substations, -np.inf)
        done = 0
        while done < n_steps:
            made = kernel.advance(
                n_steps - done, self.step, self.dt_s,
                self._arr_step, self._arr_f, self._arr_i, self._arr_ptr,
                self._fs, self._is, self._n_active,
                lay.lut, self._lut_end, self._vlimit, lay.seg_coverage, lay.seg_efficiency,
                self._seg_inv_eff, self._seg_sub,
                lay.seg_rating_kw, lay.sub_rating_kw,
                np.maximum(seg_limit, 0.0), np.maximum(sub_limit, 0.0), np.maximum(v2g, 0.0),
                np.maximum(sub_v2g, 0.0), acc, sub_peak, self.counters,
                self._trip_buf, self._trip_n, self._pass_buf, self._pass_n,
                self._seg_demand, self._bin_demand, self._bin_frac, self._sub_total,
                self._touched, self._seg_first, self._req_seg, self._bin_lo, self._bin_hi,
                self._sub_v2g, self._seg_v2g_demand, self._sub_bin, self._sub_cap,
                self._sub_cut, self._sub_cutf, budget,
            )  # fmt: skip
            if made < 0:
                raise SimulationError(
                    f"more than {self._fs.shape[1]} vehicles on the road at step {self.step}: "
                    "raise simulation.max_vehicles in the scenario"
                )
            done += made
            self.step += made
            self._drain()
        n = self.vehicles_on_road
        soc = self._fs[kernel.F_ENERGY, :n] / self._fs[kernel.F_BATTERY, :n]
        net = acc[:, kernel.A_GRID] - acc[:, kernel.A_V2G_GRID]
        return BlockReport(
            duration_h=n_steps * self.dt_s / 3600.0,
            seg_grid_kwh=acc[:, kernel.A_GRID].copy(),
            seg_battery_kwh=acc[:, kernel.A_BATT].copy(),
            seg_v2g_grid_kwh=acc[:, kernel.A_V2G_GRID].copy(),
            seg_v2g_battery_kwh=acc[:, kernel.A_V2G_BATT].copy(),
            seg_request_kwh=acc[:, kernel.A_REQUEST].copy(),
            seg_v2g_potential_kwh=acc[:, kernel.A_V2G_POTENTIAL].copy(),
            sub_grid_kwh=np.bincount(
                self._seg_sub, weights=net, minlength=lay.n_substations
            ).astype(np.float64),
            sub_peak_kw=sub_peak,
            vehicles_on_road=n,
            mean_soc=float(soc.mean()) if n else float("nan"),
        )

    def _drain(self) -> None:
        if self._trip_n[0]:
            self._trips.append(self._trip_buf[: self._trip_n[0]].copy())
            self._trip_n[0] = 0
        if self._pass_n[0]:
            self._passes.append(self._pass_buf[: self._pass_n[0]].copy())
            self._pass_n[0] = 0

    def finish(self) -> None:
        """Close the open metering passes of vehicles still on the road (end of a run)."""
        if self._pass_n[0] + 2 * self.vehicles_on_road > self._pass_buf.shape[0]:
            self._drain()
        kernel.close_passes(
            self.step, self._fs, self._is, self._n_active, self._pass_buf, self._pass_n
        )
        self._drain()

    def start_counting(self) -> None:
        """Count from now on only: forget completed trips, metered passes and counters, and
        start the trips of the vehicles on the road afresh here (entry step and energy now,
        nothing received, returned or lacked yet; open passes restart now). Their entry
        interchange stays where they came on the road; :attr:`under_way_km` keeps where
        they are now.

        Called at a run's start after a warm-up or a restored state: energy a vehicle
        exchanged before the start belongs to the window before.
        """
        self._drain()
        self._trips, self._passes = [], []
        self.counters[:] = 0
        n = self.vehicles_on_road
        fs = self._fs
        for row in (
            kernel.F_RECV_BATT, kernel.F_RECV_GRID, kernel.F_DEPLETED, kernel.F_V2G_BATT,
            kernel.F_V2G_GRID, kernel.F_PASS_BATT, kernel.F_PASS_GRID, kernel.F_PASS_V2G_BATT,
            kernel.F_PASS_V2G_GRID,
        ):  # fmt: skip
            fs[row, :n] = 0.0
        self._is[kernel.I_PASS_START, :n] = self.step
        self._is[kernel.I_ENTRY_STEP, :n] = self.step
        fs[kernel.F_ENTRY_ENERGY, :n] = fs[kernel.F_ENERGY, :n]
        travel_m = fs[kernel.F_POS, :n]
        km = (
            np.where(self._is[kernel.I_DIR, :n] == 0, travel_m, self.layout.length_m - travel_m)
            / 1000.0
        )
        self.under_way_ids = self._is[kernel.I_ID, :n].copy()
        self.under_way_km = np.asarray(km, dtype=np.float64)

    def snapshot(self) -> TwinState:
        """The vehicles on the road now (a copy), to carry on in another run."""
        n = self.vehicles_on_road
        return TwinState(
            step=self.step,
            dt_s=self.dt_s,
            floats=self._fs[:, :n].copy(),
            ints=self._is[:, :n].copy(),
        )

    def restore(self, state: TwinState) -> None:
        """Put the vehicles of ``state`` on the road, as at this twin's current step, and
        count from now on only (:meth:`start_counting`).

        Raises
        ------
        SimulationError
            If the state was simulated at another twin step, has another layout of vehicle
            quantities, holds more vehicles than the twin or the twin has vehicles already.
        """
        n = state.n_vehicles
        if abs(state.dt_s - self.dt_s) > 1e-12:
            raise SimulationError(
                f"the road state was simulated at a {state.dt_s:g} s twin step, this run "
                f"steps {self.dt_s:g} s: keep simulation.twin_step_s the same"
            )
        if state.floats.shape[0] != self._fs.shape[0] or state.ints.shape[0] != self._is.shape[0]:
            raise SimulationError(
                f"the road state holds {state.floats.shape[0]}+{state.ints.shape[0]} vehicle "
                f"quantities, this twin {self._fs.shape[0]}+{self._is.shape[0]}: it was "
                "written by another version of ersgrid"
            )
        if n > self._fs.shape[1]:
            raise SimulationError(
                f"the road state holds {n} vehicles, more than simulation.max_vehicles = "
                f"{self._fs.shape[1]}"
            )
        if self.vehicles_on_road:
            raise SimulationError("a road state is restored into an empty road only")
        self._fs[:, :n] = state.floats
        self._fs[kernel.F_SEG_END, :n] = -np.inf  # look the segments up again
        self._is[:, :n] = state.ints
        shift = self.step - int(state.step)  # the state's steps on this twin's clock
        self._is[kernel.I_ENTRY_STEP, :n] += shift
        self._is[kernel.I_PASS_START, :n] += shift
        self._n_active[0] = n
        self.start_counting()

    def trips(self) -> pd.DataFrame:
        """Completed trips so far, one row each, columns of :data:`kernel.TRIP_COLUMNS`."""
        data = np.vstack(self._trips) if self._trips else np.zeros((0, len(kernel.TRIP_COLUMNS)))
        return pd.DataFrame(data, columns=list(kernel.TRIP_COLUMNS))

    def passes(self) -> pd.DataFrame:
        """Metered passes (vehicle × segment) so far, columns of :data:`kernel.PASS_COLUMNS`."""
        data = np.vstack(self._passes) if self._passes else np.zeros((0, len(kernel.PASS_COLUMNS)))
        return pd.DataFrame(data, columns=list(kernel.PASS_COLUMNS))

    def battery_energy_kwh(self) -> float:
        """Energy in the batteries of the vehicles on the road now [kWh]."""
        return float(self._fs[kernel.F_ENERGY, : self.vehicles_on_road].sum())

    def received_on_road(self) -> dict[str, float]:
        """Energy exchanged so far by the vehicles still on the road [kWh].

        Keys: ``battery`` and ``grid`` (charging, battery and grid side), ``v2g_battery`` and
        ``v2g_grid`` (V2G, out of batteries and into the grid).
        """
        n = self.vehicles_on_road
        fs = self._fs
        return {
            "battery": float(fs[kernel.F_RECV_BATT, :n].sum()),
            "grid": float(fs[kernel.F_RECV_GRID, :n].sum()),
            "v2g_battery": float(fs[kernel.F_V2G_BATT, :n].sum()),
            "v2g_grid": float(fs[kernel.F_V2G_GRID, :n].sum()),
        }
