"""The corridor as arrays: segments, substations and interchanges, ready for the engines.

Positions inside engines are *travel coordinates*: metres travelled from the start of the
vehicle's direction. Direction A runs with road kilometres (``s = km * 1000``), direction B
against them (``s = (length_km - km) * 1000``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ersgrid.scenario.schema import Direction, Scenario

__all__ = ["DIRECTIONS", "Layout", "build_layout"]

DIRECTIONS: tuple[Direction, Direction] = (Direction.A, Direction.B)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Layout:
    """Segments, substations and interchanges of a corridor as flat arrays.

    Attributes
    ----------
    length_m : float
        Corridor length [m].
    seg_ids : list of str
        Segment ids, ``<direction>-<section index>-<segment index>``.
    seg_direction : ndarray of int8
        0 for direction A, 1 for B.
    seg_start_km, seg_end_km : ndarray [km]
        Road kilometres of each segment's ends (start < end in road kilometres).
    seg_start_m, seg_end_m : ndarray [m]
        The same in the travel coordinates of the segment's direction (start < end).
    seg_coverage : ndarray [-]
    seg_vehicle_limit_kw : ndarray [kW]
        Battery-side power limit per vehicle.
    seg_rating_kw : ndarray [kW]
        Grid-side rating of the power unit.
    seg_efficiency : ndarray [-]
    seg_substation : ndarray of int32
        Index of the substation feeding each segment.
    seg_section : ndarray of int32
        Index of the section each segment belongs to.
    seg_technology : list of str
    sub_ids : list of str
    sub_position_km : ndarray [km]
    sub_rating_kw : ndarray [kW]
    ic_position_km : ndarray [km]
        Interchange positions, sorted by road kilometre.
    ic_weight : ndarray [-]
    ic_names : list of str
    sa_substation : ndarray of int32
        Substation index of each service area, in the scenario's order (the one named, or the
        nearest).
    lut : ndarray of int32, shape (2, ceil(length_m) + 2)
        Segment index at each whole metre of travel in each direction, -1 where none.
    """

    length_m: float
    seg_ids: list[str]
    seg_direction: npt.NDArray[np.int8]
    seg_start_km: FloatArray
    seg_end_km: FloatArray
    seg_start_m: FloatArray
    seg_end_m: FloatArray
    seg_coverage: FloatArray
    seg_vehicle_limit_kw: FloatArray
    seg_rating_kw: FloatArray
    seg_efficiency: FloatArray
    seg_substation: IntArray
    seg_section: IntArray
    seg_technology: list[str]
    sub_ids: list[str]
    sub_position_km: FloatArray
    sub_rating_kw: FloatArray
    ic_position_km: FloatArray
    ic_weight: FloatArray
    ic_names: list[str]
    sa_substation: IntArray
    lut: IntArray

    @property
    def n_segments(self) -> int:
        """Number of segments (power units) over both directions."""
        return len(self.seg_ids)

    @property
    def n_substations(self) -> int:
        """Number of substations."""
        return len(self.sub_ids)

    def to_travel_m(self, km: FloatArray, direction: npt.NDArray[np.int8]) -> FloatArray:
        """Convert road kilometres to travel coordinates [m] for each direction (0=A, 1=B)."""
        metres = np.asarray(km, dtype=np.float64) * 1000.0
        return np.where(np.asarray(direction) == 0, metres, self.length_m - metres)


def build_layout(scenario: Scenario) -> Layout:
    """Split the scenario's sections into segments and index them for fast lookup."""
    road = scenario.road
    length_m = road.length_km * 1000.0
    sub_ids = [s.id for s in scenario.substations]
    sub_pos = np.array([s.position_km for s in scenario.substations], dtype=np.float64)

    rows: list[tuple[str, int, float, float, int, int]] = []
    for sec_index, sec in enumerate(road.sections):
        n = max(1, math.ceil(sec.length_km * 1000.0 / sec.segment_length_m - 1e-9))
        edges = np.minimum(
            sec.start_km + np.arange(n + 1) * sec.segment_length_m / 1000.0, sec.end_km
        )
        for direction in sec.directions:
            d = DIRECTIONS.index(direction)
            for j in range(n):
                a, b = float(edges[j]), float(edges[j + 1])
                if sec.substation is not None:
                    sub = sub_ids.index(sec.substation)
                else:
                    sub = int(np.argmin(np.abs(sub_pos - 0.5 * (a + b))))
                rows.append((f"{direction.value}-{sec_index}-{j:03d}", d, a, b, sub, sec_index))

    seg_direction = np.array([r[1] for r in rows], dtype=np.int8)
    seg_start_km = np.array([r[2] for r in rows], dtype=np.float64)
    seg_end_km = np.array([r[3] for r in rows], dtype=np.float64)
    seg_section = np.array([r[5] for r in rows], dtype=np.int32)
    travel_a = seg_start_km * 1000.0
    travel_b = seg_end_km * 1000.0
    seg_start_m = np.where(seg_direction == 0, travel_a, length_m - travel_b)
    seg_end_m = np.where(seg_direction == 0, seg_end_km * 1000.0, length_m - seg_start_km * 1000.0)

    def per_section(attr: str) -> FloatArray:
        values = np.array([float(getattr(s, attr)) for s in road.sections], dtype=np.float64)
        return values[seg_section]

    lut = np.full((2, math.ceil(length_m) + 2), -1, dtype=np.int32)
    for k in range(len(rows)):
        lo = math.ceil(seg_start_m[k] - 1e-9)
        hi = math.ceil(seg_end_m[k] - 1e-9)
        lut[seg_direction[k], lo:hi] = k

    ics = sorted(road.interchanges, key=lambda ic: ic.position_km)
    return Layout(
        length_m=length_m,
        seg_ids=[r[0] for r in rows],
        seg_direction=seg_direction,
        seg_start_km=seg_start_km,
        seg_end_km=seg_end_km,
        seg_start_m=seg_start_m,
        seg_end_m=seg_end_m,
        seg_coverage=per_section("coverage"),
        seg_vehicle_limit_kw=per_section("vehicle_limit_kw"),
        seg_rating_kw=per_section("rating_kw"),
        seg_efficiency=per_section("efficiency"),
        seg_substation=np.array([r[4] for r in rows], dtype=np.int32),
        seg_section=seg_section,
        seg_technology=[road.sections[r[5]].technology.value for r in rows],
        sub_ids=sub_ids,
        sub_position_km=sub_pos,
        sub_rating_kw=np.array([s.rating_kw for s in scenario.substations], dtype=np.float64),
        ic_position_km=np.array([ic.position_km for ic in ics], dtype=np.float64),
        ic_weight=np.array([ic.weight for ic in ics], dtype=np.float64),
        ic_names=[ic.name for ic in ics],
        sa_substation=np.array(
            [
                sub_ids.index(sa.substation)
                if sa.substation is not None
                else int(np.argmin(np.abs(sub_pos - sa.position_km)))
                for sa in scenario.service_areas
            ],
            dtype=np.int32,
        ),
        lut=lut,
    )
