"""Write the JEPX-format spot prices of ``freight-spot.yaml`` (synthetic, labelled as such).

The prices follow the published pattern of the JEPX day-ahead market: a night plateau, a
morning and an evening peak, and spring middays that fall to the 0.01 yen/kWh floor when the
sun is out across the area. The midday depth here follows this scenario's own cloud cover, so
the sunny days of the prices are the sunny days of the PV. No spot price of 2035 exists; the
file stands in for one an operator would download from JEPX. Run again to regenerate::

    python examples/make_freight_data.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from ersgrid import load_scenario
from ersgrid.world import build_world

HERE = Path(__file__).parent
AREAS = ("北海道", "東北", "東京", "中部", "北陸", "関西", "中国", "四国", "九州")


def main() -> None:
    sc = load_scenario(HERE / "freight-spot.yaml", overrides={"prices.source": "tariff"})
    start = pd.Timestamp("2035-03-18").tz_localize(sc.timezone)
    index = pd.date_range(start, periods=35 * 96, freq="15min")
    world = build_world(sc, index)
    cloud = pd.Series(world.weather.cloud_cover, index=index).resample("30min").mean()
    rng = np.random.default_rng(7)
    rows = []
    for t, c in cloud.items():
        hour = t.hour + t.minute / 60.0
        base = (
            9.5
            + 2.0 * np.exp(-(((hour - 8.0) / 1.5) ** 2))
            + 9.0 * np.exp(-(((hour - 18.5) / 1.8) ** 2))
        )
        sun = max(0.0, np.cos((hour - 12.0) / 6.0 * np.pi / 2)) if 6.0 <= hour <= 18.0 else 0.0
        dip = 11.0 * sun * (1.0 - c) ** 1.5
        price = max(0.01, (base - dip) * float(rng.lognormal(0.0, 0.08)))
        if price < 0.6:
            price = 0.01  # the floor
        code = int(hour * 2) + 1
        area = [round(price * f, 2) for f in (1.05, 1.0, 1.0, 0.98, 0.97, 0.96, 0.95, 0.95, 0.9)]
        rows.append([t.strftime("%Y/%m/%d"), code, 0, 0, round(price, 2), *area])
    header = [
        "受渡日",
        "時刻コード",
        "売り入札量(kWh)",
        "買い入札量(kWh)",
        "システムプライス(円/kWh)",
    ]
    header += [f"エリアプライス{a}(円/kWh)" for a in AREAS]
    with (HERE / "data" / "freight-spot-jepx.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)
    print(f"wrote {len(rows)} half-hour prices into {HERE / 'data' / 'freight-spot-jepx.csv'}")


if __name__ == "__main__":
    main()
