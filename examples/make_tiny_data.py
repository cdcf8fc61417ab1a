"""Write the example files of ``tiny-counts.yaml``: hourly detector counts and a PV meter.

The files stand in for an operator's own data (there is no public detector data for the
``tiny`` test road): the counts are Poisson draws about ``tiny``'s own traffic model, split
over the entry interchanges by its gravity model; the PV series is ``tiny``'s modelled PV
array on its weather, rounded as a meter would report it. Run it again to regenerate them::

    python examples/make_tiny_data.py
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from ersgrid import load_scenario
from ersgrid.world import build_world

HERE = Path(__file__).parent
FIRST_DAY = dt.date(2035, 3, 17)
DAYS = 18


def main() -> None:
    sc = load_scenario("tiny")
    start = pd.Timestamp(FIRST_DAY).tz_localize(sc.timezone)
    index = pd.date_range(start, periods=DAYS * 96, freq="15min")
    world = build_world(sc, index)
    lam = world.traffic_intensity.resample("1h").sum()
    layout = world.layout
    names = layout.ic_names
    pos = layout.ic_position_km
    w = layout.ic_weight
    rng = np.random.default_rng(2035)
    rows = []
    for t, row in lam.iterrows():
        for column, mean in row.items():
            vclass, tag = str(column).split("_")
            # entry interchanges of the direction, in proportion to the gravity model's origins
            entries = [i for i in range(len(names)) if any(
                (pos[j] > pos[i]) if tag == "A" else (pos[j] < pos[i]) for j in range(len(names))
            )]  # fmt: skip
            share = np.array([
                w[i] * sum(w[j] for j in range(len(names))
                           if ((pos[j] > pos[i]) if tag == "A" else (pos[j] < pos[i])))
                for i in entries
            ])  # fmt: skip
            share = share / share.sum()
            for i, s in zip(entries, share, strict=True):
                count = int(rng.poisson(mean * s))
                rows.append([t.strftime("%Y-%m-%dT%H:%M"), tag, vclass, count, names[i]])
    with (HERE / "data" / "tiny-counts.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["time", "direction", "class", "count", "interchange"])
        out.writerows(rows)
    pv = pd.Series(world.plants.of_kind("pv"), index=index).resample("1h").mean()
    with (HERE / "data" / "tiny-pv.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["time", "power_kw"])
        out.writerows([t.strftime("%Y-%m-%dT%H:%M"), f"{v:.1f}"] for t, v in pv.items())
    print(f"wrote {len(rows)} count rows and {len(pv)} PV rows into {HERE / 'data'}")


if __name__ == "__main__":
    main()
