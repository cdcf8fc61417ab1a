"""The road before a run's start: the twin run over the warm-up, uncounted, so that a run
(and a study of the same day) starts with the vehicles on the road as they are then."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ersgrid.errors import DataError, ScenarioError
from ersgrid.scenario.layout import Layout
from ersgrid.twin.road import RoadTwin
from ersgrid.world.arrivals import concat_arrivals
from ersgrid.world.world import World, build_world

__all__ = ["warmed_twin"]


def warmed_twin(world: World, layout: Layout, steps: int) -> tuple[RoadTwin | None, str]:
    """The twin of ``world`` run ``steps`` planning steps before its start with the arrivals
    of that window, uncounted from the start on
    (:meth:`~ersgrid.run.runner.Stepper.warm_up`).

    The road runs uncontrolled within its ratings and the connections' import limits (no
    batteries, no V2G, no demand-response caps), so what is on the road at the start does
    not depend on the strategy or the storage. Returns the twin, or None and the reason
    when there is no data before the start.
    """
    sc = world.scenario
    per = sc.simulation.twin_steps_per_plan
    step = pd.Timedelta(minutes=sc.simulation.planning_step_min)
    index = pd.date_range(world.index[0] - steps * step, periods=steps, freq=step)
    try:
        before = build_world(sc, index, layout=layout, history=True)
    except (DataError, ScenarioError) as err:
        return None, f"the road starts empty: no data before the start ({err})"
    arrivals, energy = before.arrivals, before.energy
    dt_s = sc.simulation.twin_step_s
    arrivals = replace(arrivals, time_s=arrivals.time_s - steps * per * dt_s)
    twin = RoadTwin(
        layout, concat_arrivals([arrivals, world.arrivals]), dt_s,
        sc.simulation.max_vehicles, first_step=-steps * per,
    )  # fmt: skip
    for j in range(steps):
        limit = layout.sub_rating_kw
        room = energy.import_limit_kw[j] - energy.other_load_kw[j] + energy.renewable_kw[j]
        room = np.nan_to_num(room, nan=np.inf)
        if np.isfinite(room).any():
            limit = np.minimum(limit, np.maximum(room, 0.0))
        twin.advance(per, layout.seg_rating_kw, limit)
    twin.start_counting()
    return twin, ""
