# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial: model your own corridor in 30 minutes
#
# You will describe a corridor of your own in a scenario file, check it, simulate a day of
# traffic on it, read what the road drew from the grid and what the vehicles received, try a
# stationary battery with a peak tariff, and write a results folder with its report.
#
# This page is the script [`tutorial.py`](tutorial.py): download it and run it with
# `python tutorial.py`, or open it as a notebook (`jupytext --to notebook tutorial.py`). It
# writes `my.yaml` and `results/my-corridor/` in the folder you run it in, and each
# simulation takes seconds. Install ersgrid first ([Getting started](getting-started.md)).
#
# The corridor below is made up for the tutorial: a 24 km motorway stretch with four
# interchanges, a 12 km electrified section in both directions and two substations. Every
# figure in it is an assumption; replace them with your own as you go.

# %%
from pathlib import Path

import ersgrid

# %% [markdown]
# ## 1. Describe the corridor
#
# A scenario is one YAML file. Each block below says one thing about the corridor; the
# [scenario format](scenario.md) lists every field with its unit, bounds and default, and an
# unknown key is an error (a misspelt field never goes unnoticed).
#
# - `road`: length, the interchanges where vehicles enter and leave (their `weight` sets how
#   much traffic each generates and attracts; the two ends carry the through traffic) and the
#   electrified `sections`: technology, where they start, their length, the share of each
#   segment that transfers power (`coverage`), the most one vehicle can take
#   (`vehicle_limit_kw`, battery side), each segment's power-unit rating (`rating_kw`, grid
#   side) and the grid-to-battery efficiency.
# - `substations`: where the road connects to the grid and how much each may feed (grid
#   side). A section is fed by its nearest substation unless it names one.
# - `vehicles`: one entry per class (car, bus, truck): its share of the traffic, how many are
#   electric and how many of those carry a receiver, battery, consumption, receiver rating,
#   state of charge at entry (a truncated normal) and the state of charge each needs at exit.
# - `traffic`: vehicles per day (both directions, all classes, electric or not) and its
#   shape over the day; public holidays of `holidays_country` take the weekend shape.
# - `tariff` and `co2`: what grid energy costs (here a flat price with a cheaper night
#   window), what vehicles pay per kWh into their battery, and the CO2 intensity of imports.

# %%
MY_CORRIDOR = """
name: my-corridor
description: 24 km motorway, 12 km conductive rail each way, two substations (tutorial)
currency: EUR
timezone: Europe/Berlin
seed: 1
simulation:
  start: 2035-06-04            # a Monday
road:
  name: Tutorial motorway
  length_km: 24.0
  interchanges:
    - {name: West end, position_km: 0.0, weight: 6.0}
    - {name: Airport, position_km: 7.0, weight: 1.5}
    - {name: Industrial park, position_km: 15.0, weight: 2.0}
    - {name: East end, position_km: 24.0, weight: 6.0}
  sections:
    - name: Rail section
      start_km: 6.0
      length_km: 12.0
      technology: conductive_rail
      segment_length_m: 1000
      coverage: 1.0
      vehicle_limit_kw: 200
      rating_kw: 600
      efficiency: 0.95
substations:
  - {id: SS-West, position_km: 9.0, rating_kw: 2500}
  - {id: SS-East, position_km: 15.0, rating_kw: 2500}
vehicles:
  car:
    share: 0.8
    ev_share: 0.4
    receiver_share: 0.2
    battery_kwh: 70
    consumption_kwh_per_km: 0.18
    receiver_kw: 50
    entry_soc: {mean: 0.5, std: 0.15}
    exit_target_soc: 0.35
    soc_max: 0.9
    speed: {mean_kmh: 115, std_kmh: 10}
  truck:
    share: 0.2
    ev_share: 0.3
    receiver_share: 0.7
    battery_kwh: 500
    consumption_kwh_per_km: 1.2
    receiver_kw: 200
    entry_soc: {mean: 0.45, std: 0.15}
    exit_target_soc: 0.35
    soc_max: 0.9
    speed: {mean_kmh: 85, std_kmh: 3}
traffic:
  daily_volume: 30000
  diurnal_weekday: [0.8, 0.6, 0.5, 0.6, 1.0, 2.2, 4.6, 6.4, 6.0, 5.2, 4.8, 4.8,
                    4.9, 5.0, 5.2, 5.8, 6.6, 6.8, 5.8, 4.4, 3.2, 2.4, 1.8, 1.2]
  diurnal_weekend: [1.0, 0.7, 0.6, 0.5, 0.6, 0.9, 1.6, 2.8, 4.4, 5.6, 6.2, 6.4,
                    6.4, 6.2, 6.2, 6.2, 6.0, 5.6, 5.0, 4.2, 3.2, 2.4, 1.8, 1.4]
  holidays_country: DE
tariff:
  name: Flat price with a night window
  base_price_per_kwh: 0.24
  windows:
    - {name: night, start: "22:00", end: "06:00", price_per_kwh: 0.17}
  user_price_per_kwh: 0.45
co2:
  intensity_kg_per_kwh: 0.38
  source: assumed grid average for the tutorial
"""
Path("my.yaml").write_text(MY_CORRIDOR, encoding="utf-8")

# %% [markdown]
# ## 2. Load and check it
#
# `load_scenario` reads the file, fills every default and checks every field. The layout is
# what the twin will simulate: the sections cut into segments (one power unit each) per
# direction, each fed by a substation.

# %%
sc = ersgrid.load_scenario("my.yaml")
layout = ersgrid.build_layout(sc)
print(f"{sc.name}: {layout.n_segments} segments, substations {list(layout.sub_ids)}")
for sub_id in layout.sub_ids:
    fed = layout.seg_substation == list(layout.sub_ids).index(sub_id)
    print(f"  {sub_id} feeds {int(fed.sum())} segments, {layout.seg_rating_kw[fed].sum():,.0f} kW")

# %% [markdown]
# A mistake is an `ErsgridError` whose message names the field and the rule, never a
# traceback from deep inside. Here a coverage above one, set through `overrides` (dotted
# field paths, as `ersgrid sweep --param` takes them):

# %%
try:
    ersgrid.load_scenario("my.yaml", overrides={"road.sections.0.coverage": 1.3})
except ersgrid.ScenarioError as err:
    print(err)

# %% [markdown]
# On the command line, `ersgrid validate my.yaml` does the same check.
#
# ## 3. Simulate a day
#
# `run` simulates every ERS vehicle second by second under a strategy and returns a
# `RunResult`; it writes nothing. `uncontrolled` is the baseline: every receiver takes what
# it can while it is on a live segment, until its battery is full.

# %%
result = ersgrid.run(sc, strategy="uncontrolled", days=1)
kpis = result.kpis
print(f"energy into vehicles   {kpis['energy_delivered_kwh']:10,.0f} kWh")
print(f"drawn by the road      {kpis['road_energy_kwh']:10,.0f} kWh (grid side)")
print(f"peak grid import       {kpis['peak_import_kw']:10,.0f} kW  (15-min mean)")
print(f"energy cost            {kpis['energy_cost']:10,.0f} {kpis['currency']}")
print(f"CO2                    {kpis['co2_kg']:10,.0f} kg")
print(f"trips                  {kpis['trips']:10,d}, {kpis['trips_below_target']} below target")

# %% [markdown]
# Every key and its unit is in [Results and KPIs](results.md). The twin checks its
# invariants as it runs: the energy the meters counted equals what the batteries received
# plus the losses.

# %%
assert kpis["energy_balance_error_kwh"] < 1e-6
assert abs(kpis["road_energy_kwh"] - kpis["energy_delivered_kwh"] - kpis["losses_kwh"]) < 1e-6

# %% [markdown]
# ## 4. Look inside
#
# `result.timeseries` has one row per 15-min planning step (a tz-aware index in the
# corridor's time zone, units in the column names); `result.trips` one row per completed
# trip. When is the road's peak, and how much does each class take on its way?

# %%
ts = result.timeseries
print(f"road peak {ts['road_power_kw'].max():,.0f} kW at {ts['road_power_kw'].idxmax():%H:%M}")
for sub_id in layout.sub_ids:
    print(f"  {sub_id}: peak {ts[f'road_power_{sub_id}_kw'].max():,.0f} kW")

trips = result.trips
per_class = trips.groupby("vehicle_class").agg(
    trips=("vehicle", "size"),
    received_kwh=("energy_received_kwh", "mean"),
    soc_entry=("soc_entry", "mean"),
    soc_exit=("soc_exit", "mean"),
)
print(per_class.round(2))

# %% [markdown]
# ## 5. Try a battery under a peak tariff
#
# Say the grid operator bills the corridor's peak import (a demand charge, here
# 0.40 EUR/kW per day) and you consider a 1 MWh battery at each substation. Add both with
# `overrides` and run three strategies on the same vehicles (same seed):
#
# - `uncontrolled`: the battery idles;
# - `tou`: a rule without an optimiser that charges the batteries in the cheapest price
#   window and discharges them in the dearest;
# - `oracle`: the planning LP solved once with the day's realised traffic, the hindsight
#   bound no strategy can beat (it needs the `optimize` extra, HiGHS).

# %%
with_battery = ersgrid.load_scenario(
    "my.yaml",
    overrides={
        "tariff.demand_charge_per_kw": 0.40,
        "storage": {"energy_kwh": 1000, "power_kw": 500, "degradation_cost_per_kwh": 0.03},
    },
)
runs = {
    name: ersgrid.run(with_battery, strategy=name, days=1)
    for name in ("uncontrolled", "tou", "oracle")
}
print(f"{'':13s} {'peak kW':>8s} {'energy':>7s} {'demand':>7s} {'battery':>8s} {'vehicles':>9s}")
print(f"{'':13s} {'':>8s} {'EUR':>7s} {'EUR':>7s} {'kWh out':>8s} {'kWh':>9s}")
for name, run in runs.items():
    k = run.kpis
    print(
        f"{name:13s} {k['peak_import_kw']:8,.0f} {k['energy_cost']:7,.0f}"
        f" {k['demand_charge']:7,.0f} {k['storage_discharged_kwh']:8,.0f}"
        f" {k['energy_delivered_kwh']:9,.0f}"
    )

# %% [markdown]
# The rule uses the battery but leaves the peak where it was: it follows the price windows
# and knows nothing of the evening traffic peak. The oracle cuts the peak with the same
# energy into every vehicle: that gap is what planning can be worth on this corridor.

# %%
peak_kw = {name: run.kpis["peak_import_kw"] for name, run in runs.items()}
delivered_kwh = {name: run.kpis["energy_delivered_kwh"] for name, run in runs.items()}
assert peak_kw["oracle"] < 0.9 * min(peak_kw["uncontrolled"], peak_kw["tou"])
assert abs(delivered_kwh["oracle"] - delivered_kwh["uncontrolled"]) < 1e-3 * delivered_kwh["oracle"]
print(f"oracle: {1 - peak_kw['oracle'] / peak_kw['uncontrolled']:.0%} lower peak")

# %% [markdown]
# `mpc` plans the same LP every 15 minutes on forecasts instead of the realised traffic; how
# close it comes to the oracle depends on its forecasts. Try `strategy="mpc"` (its first run
# of a scenario fits its forecast models, about a minute), and see
# [Strategies](strategies.md) and [Planning](planning.md).
# `ersgrid compare my.yaml --strategies uncontrolled,tou,mpc,oracle`
# runs them side by side into one report.
#
# ## 6. Write the results folder
#
# `write_results` writes the time series, trips and passes (Parquet), the KPIs (JSON), the
# resolved scenario, the signed metering ledger and a self-contained HTML report that opens
# with no network.

# %%
folder = ersgrid.write_results(result, Path("results") / "my-corridor")
for path in sorted(folder.iterdir()):
    print(path.name)

# %% [markdown]
# Open `results/my-corridor/report.html` in a browser. The same run from the command line:
#
# ```
# ersgrid run my.yaml --strategy uncontrolled --days 1 --out results/my-corridor
# ```
#
# ## Where next
#
# - Connect the substations to a distribution network and check voltages and loadings:
#   [Your own network](howto/network.md).
# - Replace the tariff by market prices: [Your own price file](howto/price-file.md).
# - Take demand-response events from a utility's server: [DR from a VTN](howto/dr-vtn.md).
# - Add PV, wind, service areas, V2G and a week of traffic: the
#   [scenario format](scenario.md) and [Grid support and V2G](grid_support.md).
# - Write your own controller: [Strategies](strategies.md) and the [Python API](api.md).
