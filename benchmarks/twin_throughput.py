"""Twin throughput: vehicle-steps per second of the full twin step on one core.

A 100 km corridor, both directions fully electrified (500 m segments), with more than 2,000
ERS vehicles on the road at once, at 1 s steps: entries, exits, movement, segment lookup,
lowest-slack-first sharing, substation caps and metering.

For comparison, the same step written in plain numpy (sort-based priority sharing, as one
would write it first) runs in the same process on the same vehicles. Published peers, for
scale (not measured here): SUMO via libsumo ~0.8 M vehicle-steps/s, EV2Gym ~0.1 M
charger-steps/s on this kind of machine.

Usage: ``python benchmarks/twin_throughput.py [--hours H]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import yaml

from ersgrid.scenario import build_layout, parse_scenario
from ersgrid.scenario.loader import _builtin_text
from ersgrid.timeindex import planning_index
from ersgrid.twin import RoadTwin
from ersgrid.world import build_world


def corridor_100km() -> tuple[object, object, object]:
    data = yaml.safe_load(_builtin_text("tiny"))
    data["name"] = "bench-100km"
    data["road"]["length_km"] = 100.0
    data["road"]["interchanges"] = [
        {"name": "west", "position_km": 0.0, "weight": 10.0},
        {"name": "mid", "position_km": 50.0, "weight": 1.0},
        {"name": "east", "position_km": 100.0, "weight": 10.0},
    ]
    sec = data["road"]["sections"][0]
    sec.update(start_km=0.0, length_km=100.0, rating_kw=600)
    data["substations"] = [
        {"id": f"SS{i}", "position_km": 5.0 + 10.0 * i, "rating_kw": 6000} for i in range(10)
    ]
    data["service_areas"] = []
    for section in ("grid", "weather", "renewables", "storage"):  # the twin alone is measured
        data.pop(section, None)
    for v in data["vehicles"].values():
        v["ev_share"] = 1.0
        v["receiver_share"] = 1.0
    data["traffic"]["daily_volume"] = 52_000.0
    data["traffic"]["diurnal_weekday"] = [1.0] * 24
    data["traffic"]["diurnal_weekend"] = [1.0] * 24
    data["simulation"]["max_vehicles"] = 20_000
    sc = parse_scenario(data, "benchmark")
    lay = build_layout(sc)
    index = planning_index(sc, 1.0)
    arr = build_world(sc, index, layout=lay).arrivals
    return sc, lay, arr


def numpy_step(state: dict[str, np.ndarray], lay: object, dt_s: float) -> None:  # type: ignore[type-arg]
    """The same physics in plain numpy: move, lookup, sort-based priority share, meter."""
    pos = state["pos"] + state["speed"] * dt_s
    state["pos"] = pos
    state["energy"] -= state["cons"] * state["speed"] * dt_s
    np.maximum(state["energy"], 0.0, out=state["energy"])
    cell = np.minimum(pos.astype(np.int64), lay.lut.shape[1] - 1)  # type: ignore[attr-defined]
    seg = lay.lut[state["dir"], cell]  # type: ignore[attr-defined]
    on = seg >= 0
    s = seg[on]
    want = np.minimum(state["receiver"][on], lay.seg_vehicle_limit_kw[s]) * lay.seg_coverage[s]  # type: ignore[attr-defined]
    grid = want / lay.seg_efficiency[s]  # type: ignore[attr-defined]
    slack = state["energy"][on] / state["battery"][on]
    order = np.lexsort((slack, s))
    s_sorted, g_sorted = s[order], grid[order]
    csum = np.cumsum(g_sorted)
    starts = np.searchsorted(s_sorted, s_sorted, side="left")
    before = csum - g_sorted - np.where(starts > 0, csum[starts - 1], 0.0)
    budget = lay.seg_rating_kw[s_sorted]  # type: ignore[attr-defined]
    granted = np.clip(budget - before, 0.0, g_sorted)
    got = np.empty_like(granted)
    got[order] = granted
    energy_on = state["energy"][on] + got * lay.seg_efficiency[s] * dt_s / 3600.0  # type: ignore[attr-defined]
    state["energy"][on] = energy_on
    state["seg_kwh"] += np.bincount(s, weights=got * dt_s / 3600.0, minlength=len(state["seg_kwh"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours to time")
    args = parser.parse_args()
    _sc, lay, arr = corridor_100km()
    twin = RoadTwin(lay, arr, 1.0, 20_000)  # type: ignore[arg-type]
    seg_lim, sub_lim = lay.seg_rating_kw, lay.sub_rating_kw  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    twin.advance(10, seg_lim, sub_lim)  # compile or load the cached kernel
    compile_s = time.perf_counter() - t0
    twin.advance(2 * 3600 - 10, seg_lim, sub_lim)  # fill the road
    on_road_start = twin.vehicles_on_road
    steps = int(args.hours * 3600)
    vs0 = twin.vehicle_steps
    best = 0.0
    wall = 0.0
    cpu = 0.0
    for _ in range(max(1, steps // 900)):
        before, t0, c0 = twin.vehicle_steps, time.perf_counter(), time.process_time()
        twin.advance(900, seg_lim, sub_lim)
        block = time.perf_counter() - t0
        cpu += time.process_time() - c0
        wall += block
        best = max(best, (twin.vehicle_steps - before) / block)
    vsteps = twin.vehicle_steps - vs0
    rate = vsteps / wall
    cpu_rate = vsteps / cpu

    # numpy reference on a snapshot of the same vehicles, same number of vehicle-steps
    snap = twin.state()
    state = {
        "pos": snap["position_m"].to_numpy().copy(),
        "speed": snap["speed_mps"].to_numpy(),
        "energy": snap["energy_kwh"].to_numpy().copy(),
        "cons": snap["consumption_kwh_per_m"].to_numpy(),
        "battery": snap["battery_kwh"].to_numpy(),
        "receiver": np.where(snap["vclass"].to_numpy() == 2, 150.0, 40.0),
        "dir": snap["direction"].to_numpy(),
        "seg_kwh": np.zeros(lay.n_segments),  # type: ignore[attr-defined]
    }
    state["pos"] = np.minimum(state["pos"], 1000.0)  # keep them on the road for the test
    np_rate = 0.0
    np_cpu = 0.0
    for _ in range(4):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(150):
            numpy_step(state, lay, 1.0)
        np_rate = max(np_rate, 150 * len(state["pos"]) / (time.perf_counter() - t0))
        np_cpu = max(np_cpu, 150 * len(state["pos"]) / (time.process_time() - c0))

    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(
        f"corridor: 100 km, both directions electrified, {lay.n_segments} segments, "  # type: ignore[attr-defined]
        f"{lay.n_substations} substations, 1 s steps"
    )  # type: ignore[attr-defined]
    print(f"vehicles on road: {on_road_start} at start, {twin.vehicles_on_road} at end of timing")
    print(f"kernel load/compile: {compile_s:.2f} s")
    print(
        f"ersgrid twin (numba, full step): {vsteps:,} vehicle-steps in {wall:.2f} s "
        f"= {rate / 1e6:.1f} M vehicle-steps/s mean, {best / 1e6:.1f} M/s best 15-min block; "
        f"per CPU second of this process: {cpu_rate / 1e6:.1f} M/s"
    )
    print(
        f"numpy reference (sort-based priority, no entries/exits/passes): "
        f"{np_rate / 1e6:.1f} M vehicle-steps/s best wall, {np_cpu / 1e6:.1f} M/s per CPU second"
    )
    print(f"ratio ersgrid / numpy (per CPU second): {cpu_rate / np_cpu:.1f}x")
    print(
        f"goal >= 20 M vehicle-steps/s on one core: {'met' if cpu_rate >= 20e6 else 'NOT met'} "
        "(per CPU second; wall-clock figures drop when other processes share the cores)"
    )
    print("published peers for scale: SUMO/libsumo ~0.8 M/s, EV2Gym ~0.1 M/s (FACTS.md)")


if __name__ == "__main__":
    main()
