"""Twin throughput: vehicle-steps per second of the full twin step on one core.

A 100 km corridor, both directions fully electrified (500 m segments), with more than 2,000
ERS vehicles on the road at once, at 1 s steps: entries, exits, movement, segment lookup,
lowest-slack-first sharing, substation caps and metering.

For comparison, the same charging step written in plain numpy (vectorised over vehicles and
segments: the same quantised priority, water-filling by cumulative sums) runs in the same
process on the same vehicles. Before timing, both run 600 steps from the same vehicles and
the benchmark fails (exit status 1) unless they agree on every segment's energy and every
battery. Rates are vehicle-steps per CPU second of this process (``time.process_time``)
over windows of ``--hours`` simulated hours each, at least ``--repeats`` of them and as many
more as it takes to reach ``--min-cpu-s`` seconds of CPU in the kernel (at most
``--max-windows``; the traffic is drawn for that long, so the road never runs empty), printed
as min / median / max. The numpy reference is timed the same way, in windows of 300 steps
from the same snapshot of the road, until it too has used ``--min-cpu-s`` seconds of CPU.
Published peers, for scale (not measured here): SUMO via libsumo ~0.8 M vehicle-steps/s,
EV2Gym ~0.1 M charger-steps/s on a comparable 2-core machine.

Usage: ``python benchmarks/twin_throughput.py [--hours H] [--repeats N] [--min-cpu-s S]``
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
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.loader import _builtin_text
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import planning_index
from ersgrid.twin import RoadTwin
from ersgrid.twin.kernel import N_PRIORITY
from ersgrid.world import Arrivals, build_world


def corridor_100km(days: float = 1.0) -> tuple[Scenario, Layout, Arrivals]:
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
    index = planning_index(sc, days)
    arr = build_world(sc, index, layout=lay).arrivals
    return sc, lay, arr


def snapshot(twin: RoadTwin) -> Arrivals:
    """The vehicles on the road now, as arrivals entering at t = 0 where they are."""
    st = twin.state()
    n = len(st)
    return Arrivals(
        time_s=np.zeros(n),
        direction=st["direction"].to_numpy().astype(np.int8),
        vclass=st["vclass"].to_numpy().astype(np.int8),
        entry_m=st["position_m"].to_numpy().copy(),
        exit_m=st["exit_m"].to_numpy().copy(),
        entry_ic=st["entry_ic"].to_numpy().astype(np.int16),
        exit_ic=st["exit_ic"].to_numpy().astype(np.int16),
        speed_mps=st["speed_mps"].to_numpy().copy(),
        energy_kwh=st["energy_kwh"].to_numpy().copy(),
        battery_kwh=st["battery_kwh"].to_numpy().copy(),
        full_kwh=st["full_kwh"].to_numpy().copy(),
        target_kwh=st["target_kwh"].to_numpy().copy(),
        receiver_kw=st["receiver_kw"].to_numpy().copy(),
        consumption_kwh_per_m=st["consumption_kwh_per_m"].to_numpy().copy(),
        v2g=st["v2g"].to_numpy().copy(),
        vehicle_id=st["vehicle_id"].to_numpy().astype(np.int64),
    )


def numpy_state(arr: Arrivals, dt_s: float, n_seg: int) -> dict[str, np.ndarray]:
    """Per-vehicle arrays of the numpy reference, with the kernel's cached constants."""
    return {
        "id": arr.vehicle_id.copy(),
        "dir": arr.direction.astype(np.int64),
        "pos": arr.entry_m.copy(),
        "exit": arr.exit_m.copy(),
        "step_m": arr.speed_mps * dt_s,
        "step_kwh": arr.consumption_kwh_per_m * arr.speed_mps * dt_s,
        "energy": arr.energy_kwh.copy(),
        "full": arr.full_kwh.copy(),
        "receiver": arr.receiver_kw.copy(),
        "cons": arr.consumption_kwh_per_m.copy(),
        "need0": arr.target_kwh + arr.consumption_kwh_per_m * arr.exit_m,
        "prio_scale": (N_PRIORITY / 2.0) / arr.battery_kwh,
        "seg_kwh": np.zeros(n_seg),
    }


def numpy_step(state: dict[str, np.ndarray], lay: Layout, dt_s: float) -> None:
    """The twin's charging step in plain numpy, vectorised over vehicles and segments.

    Move, exit, consume, look up the segment, request (receiver, segment limit, coverage,
    room in the battery), quantised lowest-slack-first priority, segment budget, substation
    cap served class by class over its segments, water-filling over the priority classes of
    each segment, deliver and meter. No V2G,
    no pass records: on a corridor without V2G export this is the kernel's physics.
    """
    dt_h = dt_s / 3600.0
    pos = state["pos"] + state["step_m"]
    stay = pos < state["exit"]
    if not stay.all():
        for key, value in state.items():
            if key != "seg_kwh":
                state[key] = value[stay]
        pos = pos[stay]
    state["pos"] = pos
    energy = np.maximum(state["energy"] - state["step_kwh"], 0.0)
    cell = np.minimum(pos.astype(np.int64), lay.lut.shape[1] - 1)
    seg = lay.lut[state["dir"], cell].astype(np.int64)
    on = np.flatnonzero(seg >= 0)
    s = seg[on]
    want = np.minimum(state["receiver"][on], lay.seg_vehicle_limit_kw[s]) * lay.seg_coverage[s]
    want = np.minimum(want, (state["full"][on] - energy[on]) / dt_h)
    grid = np.where(want > 1e-9, want * (1.0 / lay.seg_efficiency[s]), 0.0)
    slack = energy[on] + state["cons"][on] * pos[on] - state["need0"][on]
    b = np.clip((slack * state["prio_scale"][on] + N_PRIORITY / 2.0).astype(np.int64),
                0, N_PRIORITY - 1)  # fmt: skip
    n_seg = lay.n_segments
    demand = np.bincount(s * N_PRIORITY + b, weights=grid, minlength=n_seg * N_PRIORITY)
    demand = demand.reshape(n_seg, N_PRIORITY)
    budget = np.minimum(demand.sum(axis=1), lay.seg_rating_kw)
    before = np.cumsum(demand, axis=1) - demand
    # each segment's demand per class within its budget; a substation over its rating
    # serves the classes of all its segments in order
    within = np.clip(budget[:, None] - before, 0.0, demand)
    sub = lay.seg_substation
    cells = (sub[:, None] * N_PRIORITY + np.arange(N_PRIORITY)).ravel()
    sub_class = np.bincount(
        cells, weights=within.ravel(), minlength=lay.n_substations * N_PRIORITY
    ).reshape(lay.n_substations, N_PRIORITY)
    sub_before = np.cumsum(sub_class, axis=1) - sub_class
    cap = lay.sub_rating_kw[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        served = np.where(sub_class > 0.0, np.clip((cap - sub_before) / sub_class, 0.0, 1.0), 0.0)
    over = sub_class.sum(axis=1) > lay.sub_rating_kw
    budget = np.where(over[sub], (within * served[sub]).sum(axis=1), budget)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(demand > 0.0, np.clip((budget[:, None] - before) / demand, 0.0, 1.0), 0.0)
    got = grid * frac[s, b]
    energy[on] += got * lay.seg_efficiency[s] * dt_h
    state["energy"] = energy
    state["seg_kwh"] += np.bincount(s, weights=got * dt_h, minlength=n_seg)


def check_agreement(twin: RoadTwin, lay: Layout, steps: int) -> tuple[float, float, int]:
    """Run the kernel and the numpy reference from the same vehicles for ``steps`` steps.

    Returns the largest relative difference of segment energies, the largest difference of
    battery energies [kWh] and the vehicles compared; raises if they disagree.
    """
    arr = snapshot(twin)
    ref = RoadTwin(lay, arr, 1.0, len(arr.time_s) + 1)
    rep = ref.advance(steps, lay.seg_rating_kw, lay.sub_rating_kw)
    state = numpy_state(arr, 1.0, lay.n_segments)
    for _ in range(steps):
        numpy_step(state, lay, 1.0)
    st = ref.state()
    kernel_energy = dict(zip(st["vehicle_id"].to_numpy(), st["energy_kwh"].to_numpy(), strict=True))
    if sorted(kernel_energy) != sorted(state["id"].tolist()):
        raise SystemExit("FAIL: kernel and numpy reference keep different vehicles on the road")
    e_diff = max(
        abs(kernel_energy[v] - e) for v, e in zip(state["id"], state["energy"], strict=True)
    )
    seg_diff = float(
        np.max(np.abs(rep.seg_grid_kwh - state["seg_kwh"]) / np.maximum(rep.seg_grid_kwh, 1e-9))
    )
    if seg_diff > 1e-9 or e_diff > 1e-9 or rep.seg_grid_kwh.sum() <= 0.0:
        raise SystemExit(
            f"FAIL: kernel and numpy reference disagree over {steps} steps: segment energy "
            f"{seg_diff:.3g} relative, battery energy {e_diff:.3g} kWh"
        )
    return seg_diff, e_diff, len(state["id"])


def spread(values: list[float]) -> str:
    v = np.array(values) / 1e6
    return f"min {v.min():.1f} / median {np.median(v):.1f} / max {v.max():.1f} M"


def short(cpu_s: float, min_cpu_s: float) -> str:
    """A warning when the windows ran out before ``min_cpu_s`` seconds of CPU [s]."""
    return "" if cpu_s >= min_cpu_s else f" (SHORT of {min_cpu_s:g} s: raise the window limit)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours per window")
    parser.add_argument("--repeats", type=int, default=7, help="timed windows at least")
    parser.add_argument("--min-cpu-s", type=float, default=6.0,
                        help="CPU seconds of kernel stepping at least")  # fmt: skip
    parser.add_argument("--max-windows", type=int, default=40, help="timed windows at most")
    parser.add_argument("--ref-max-windows", type=int, default=200,
                        help="timed windows of the numpy reference at most")  # fmt: skip
    args = parser.parse_args()
    if (
        args.hours <= 0
        or args.repeats < 1
        or args.max_windows < args.repeats
        or args.ref_max_windows < args.repeats
    ):
        parser.error("--hours must be > 0, --repeats >= 1 and the window limits >= --repeats")
    fill_h = 2.0
    _sc, lay, arr = corridor_100km(
        days=np.ceil((fill_h + args.max_windows * args.hours) / 24 + 0.5)
    )
    twin = RoadTwin(lay, arr, 1.0, 20_000)
    seg_lim, sub_lim = lay.seg_rating_kw, lay.sub_rating_kw
    c0 = time.process_time()
    twin.advance(10, seg_lim, sub_lim)  # compile or load the cached kernel
    compile_s = time.process_time() - c0
    twin.advance(int(fill_h * 3600) - 10, seg_lim, sub_lim)  # fill the road
    on_road_start = twin.vehicles_on_road
    steps = int(args.hours * 3600)

    # agreement first: the kernel and the numpy reference, same vehicles, same steps
    seg_diff, e_diff, n_cmp = check_agreement(twin, lay, 600)

    kernel_rates: list[float] = []
    kernel_cpu = 0.0
    while len(kernel_rates) < args.max_windows and (
        len(kernel_rates) < args.repeats or kernel_cpu < args.min_cpu_s
    ):
        v0, c0 = twin.vehicle_steps, time.process_time()
        twin.advance(steps, seg_lim, sub_lim)
        cpu = time.process_time() - c0
        kernel_cpu += cpu
        kernel_rates.append((twin.vehicle_steps - v0) / cpu)

    # numpy reference on a snapshot of the same vehicles
    np_rates: list[float] = []
    np_cpu = 0.0
    base = snapshot(twin)
    ref_steps = 300
    while len(np_rates) < args.ref_max_windows and (
        len(np_rates) < args.repeats or np_cpu < args.min_cpu_s
    ):
        state = numpy_state(base, 1.0, lay.n_segments)
        vsteps = 0
        c0 = time.process_time()
        for _ in range(ref_steps):
            numpy_step(state, lay, 1.0)
            vsteps += len(state["pos"])
        cpu = time.process_time() - c0
        np_cpu += cpu
        np_rates.append(vsteps / cpu)

    k_med, n_med = float(np.median(kernel_rates)), float(np.median(np_rates))
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, "
        f"python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"corridor: 100 km, both directions electrified, {lay.n_segments} segments, "
        f"{lay.n_substations} substations, 1 s steps"
    )
    print(f"vehicles on road: {on_road_start} at start, {twin.vehicles_on_road} at end of timing")
    print(f"kernel load/compile: {compile_s:.2f} s CPU")
    print(
        f"agreement: kernel and numpy reference over 600 steps of {n_cmp} vehicles: segment "
        f"energy within {seg_diff:.1e} relative, battery energy within {e_diff:.1e} kWh"
    )
    print(
        f"ersgrid twin (numba, full step): {len(kernel_rates)} windows of {steps} steps, "
        f"{kernel_cpu:.2f} s CPU in all{short(kernel_cpu, args.min_cpu_s)}; "
        f"vehicle-steps per CPU second {spread(kernel_rates)}"
    )
    print(
        f"numpy reference (same physics, no entries/passes/V2G): {len(np_rates)} windows of "
        f"{ref_steps} steps, {np_cpu:.2f} s CPU in all{short(np_cpu, args.min_cpu_s)}; "
        f"vehicle-steps per CPU second {spread(np_rates)}"
    )
    print(f"ratio ersgrid / numpy (medians, per CPU second): {k_med / n_med:.1f}x")
    print(
        f"goal >= 30 M vehicle-steps per CPU second: {'met' if k_med >= 30e6 else 'NOT met'} "
        "(median; CPU seconds still stretch when other processes share the cores)"
    )
    print("published peers for scale: SUMO/libsumo ~0.8 M/s, EV2Gym ~0.1 M/s (FACTS.md)")


if __name__ == "__main__":
    main()
