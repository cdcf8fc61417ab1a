"""The ledger of a run: metered passes → signed records → blocks → settlement → anchors."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import LedgerError
from ersgrid.ledger.keys import owner_key, pseudonym
from ersgrid.ledger.records import (
    MWH_PER_KWH,
    RECORD_DTYPE,
    RECORD_VERSION,
    Direction,
    as_pseudonyms,
)
from ersgrid.ledger.writer import LedgerWriter, PriceTable
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import planning_step_of

__all__ = [
    "ConnectionMeters",
    "LedgerSummary",
    "create_run_writer",
    "meter_unit",
    "period_starts",
    "records_from_meters",
    "records_from_passes",
    "write_run_ledger",
]


@dataclass(frozen=True)
class LedgerSummary:
    """What writing a run's ledger produced (figures for the KPIs)."""

    records: int
    blocks: int
    periods: int
    anchored: int
    settlement_balanced: bool
    wall_time_s: float


def period_starts(index: pd.DatetimeIndex, period: str) -> npt.NDArray[np.int64]:
    """Start of the settlement period (local hour or local day) of each step [unix s].

    Hours are cut on the local wall clock and measured back in elapsed time, so the repeated
    hour at the end of daylight saving time is two periods, not one.
    """
    utc_s = index.tz_convert("UTC").tz_localize(None).as_unit("s").to_numpy().astype(np.int64)
    wall = index.tz_localize(None)
    if period == "day":
        day = wall.normalize()
        midnight = day.tz_localize(
            index.tz, ambiguous=np.ones(len(day), dtype=bool), nonexistent="shift_forward"
        )
        return np.asarray(
            midnight.tz_convert("UTC").tz_localize(None).as_unit("s").to_numpy().astype(np.int64)
        )
    into_hour_s = (wall - wall.floor("h")).total_seconds().to_numpy().astype(np.int64)
    return np.asarray(utc_s - into_hour_s, dtype=np.int64)


def records_from_passes(
    passes: pd.DataFrame,
    index: pd.DatetimeIndex,
    twin_step_s: float,
    period: str,
    provider_secret: bytes,
    run_id: str,
) -> npt.NDArray[np.void]:
    """Metering records (``seq`` unset) from the twin's passes.

    Parameters
    ----------
    passes : DataFrame
        ``vehicle_id``, ``segment``, ``start_step``, ``end_step`` (twin steps from the start of
        ``index``), ``battery_kwh`` and ``grid_kwh`` [kWh] (negative for V2G).
    index : DatetimeIndex
        The run's planning steps (tz-aware).
    twin_step_s : float [s]
    period : str
        ``hour`` or ``day``.
    provider_secret, run_id
        Derive each owner's pseudonym key (see :func:`ersgrid.ledger.keys.owner_key`).
    """
    n = len(passes)
    t0_ms = int(index[0].value // 1_000_000)
    step_ms = round((index[1] - index[0]).total_seconds() * 1000) if len(index) > 1 else (900_000)
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["version"] = RECORD_VERSION
    rec["unit"] = passes["segment"].to_numpy(dtype=np.int64)
    start_ms = t0_ms + np.rint(passes["start_step"].to_numpy() * twin_step_s * 1000).astype(
        np.int64
    )
    end_ms = t0_ms + np.rint(passes["end_step"].to_numpy() * twin_step_s * 1000).astype(np.int64)
    rec["start_ms"], rec["end_ms"] = start_ms, end_ms
    batt = np.rint(passes["battery_kwh"].to_numpy() * MWH_PER_KWH).astype(np.int64)
    grid = np.rint(passes["grid_kwh"].to_numpy() * MWH_PER_KWH).astype(np.int64)
    rec["battery_mwh"], rec["grid_mwh"] = batt, grid
    rec["direction"] = np.where(batt < 0, Direction.v2g, Direction.charge)
    rec["tariff"] = 0
    k = planning_step_of(end_ms, t0_ms, step_ms, len(index))
    periods = period_starts(index, period)[k]
    rec["period"] = periods
    vehicles = passes["vehicle_id"].to_numpy(dtype=np.int64)
    pairs, inverse = np.unique(np.stack([vehicles, periods]), axis=1, return_inverse=True)
    keys: dict[int, bytes] = {}
    names = []
    for v, p in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
        if v not in keys:
            keys[v] = owner_key(provider_secret, run_id, v)
        names.append(pseudonym(keys[v], p))
    rec["pseudonym"] = as_pseudonyms(names)[np.ravel(inverse)]
    return rec


@dataclass(frozen=True)
class ConnectionMeters:
    """What each connection's meters measured in each planning step [kWh], shape (steps,
    substations): grid import, grid export and the local plants' delivered output."""

    import_kwh: npt.NDArray[np.float64]
    export_kwh: npt.NDArray[np.float64]
    renewable_kwh: npt.NDArray[np.float64]


def meter_unit(layout: Layout, substation: int) -> int:
    """Unit index of a connection's meter: after every power unit."""
    return layout.n_segments + int(substation)


def records_from_meters(
    meters: ConnectionMeters,
    index: pd.DatetimeIndex,
    period: str,
    layout: Layout,
    first_step: int = 0,
) -> npt.NDArray[np.void]:
    """Metering records (``seq`` unset) of the connections' meters: one per step, connection
    and kind (import, export, renewable) with energy; each ends in the last millisecond of its
    step, so it is priced at that step's price.

    Parameters
    ----------
    meters : ConnectionMeters
        Readings of the steps ``first_step ..`` of ``index``.
    index : DatetimeIndex
        The run's planning steps.
    """
    t0_ms = int(index[0].value // 1_000_000)
    step_ms = round((index[1] - index[0]).total_seconds() * 1000) if len(index) > 1 else 900_000
    periods = period_starts(index, period)
    parts = []
    for direction, values, sign in (
        (Direction.grid_import, meters.import_kwh, 1),
        (Direction.grid_export, meters.export_kwh, -1),
        (Direction.renewable, meters.renewable_kwh, 1),
    ):
        mwh = np.rint(np.asarray(values, dtype=np.float64) * MWH_PER_KWH).astype(np.int64)
        k, j = np.nonzero(mwh > 0)
        mwh_kj = mwh[k, j]
        k = k + first_step
        rec = np.zeros(len(k), dtype=RECORD_DTYPE)
        rec["version"] = RECORD_VERSION
        rec["unit"] = layout.n_segments + j
        rec["start_ms"] = t0_ms + k * step_ms
        rec["end_ms"] = t0_ms + (k + 1) * step_ms - 1
        rec["grid_mwh"] = sign * mwh_kj
        rec["direction"] = direction
        rec["tariff"] = 0
        rec["period"] = periods[k]
        parts.append(rec)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=RECORD_DTYPE)


def _replace_previous(out: Path) -> None:
    """Remove the ledger of an earlier run in the same results folder (its keys with it), as
    the other result files are replaced."""
    for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "trust.json"):
        (out / name).unlink(missing_ok=True)
    for sub in ("keys", "chain"):
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)


def create_run_writer(
    scenario: Scenario,
    layout: Layout,
    index: pd.DatetimeIndex,
    out: Path,
    price_per_kwh: npt.NDArray[np.float64],
    user_price_per_kwh: npt.NDArray[np.float64],
    db_url: str | None = None,
) -> LedgerWriter:
    """A new, empty ledger for a run of ``scenario`` over ``index``: one power unit per
    segment, one meter per connection, the scenario's settlement rules and tariff, and the
    run's grid prices (``ersgrid run`` and the live service both start their ledger here).

    Parameters
    ----------
    price_per_kwh, user_price_per_kwh : ndarray [currency/kWh]
        The grid price and the user price of each step of ``index``: the run's world's, the
        prices the KPIs use.
    """
    rules = scenario.settlement
    tariff = scenario.tariff
    if np.shape(price_per_kwh) != (len(index),) or np.shape(user_price_per_kwh) != (len(index),):
        raise LedgerError(
            f"the ledger needs one price per step: {len(index)} steps, "
            f"{np.shape(price_per_kwh)} prices"
        )
    t0_ms = int(index[0].value // 1_000_000)
    step_ms = scenario.simulation.planning_step_min * 60_000
    reference = rules.reference_price_per_kwh
    if reference is None:
        reference = max([tariff.base_price_per_kwh] + [w.price_per_kwh for w in tariff.windows])
    units = [
        {"id": sid, "substation": layout.sub_ids[int(layout.seg_substation[i])],
         "kind": "power unit"}
        for i, sid in enumerate(layout.seg_ids)
    ] + [{"id": f"meter:{sid}", "substation": sid, "kind": "connection meter"}
         for sid in layout.sub_ids]  # fmt: skip
    return LedgerWriter.create(
        out, units, timezone=scenario.timezone, currency=scenario.currency, rules=rules,
        tariffs=[{"name": tariff.name, "export_price_per_kwh": tariff.export_price_per_kwh,
                  "v2g_payment_per_kwh": scenario.response.v2g_payment_per_kwh,
                  "network_fee_per_kwh": scenario.prices.network_fee_per_kwh}],
        prices=PriceTable(t0_ms, step_ms, np.asarray(price_per_kwh, dtype=float).tolist()),
        user_prices=PriceTable(
            t0_ms, step_ms, np.asarray(user_price_per_kwh, dtype=float).tolist()
        ),
        reference_price_per_kwh=float(reference), db_url=db_url, name=scenario.name,
    )  # fmt: skip


def write_run_ledger(
    scenario: Scenario,
    layout: Layout,
    index: pd.DatetimeIndex,
    passes: pd.DataFrame,
    out: Path,
    price_per_kwh: npt.NDArray[np.float64],
    user_price_per_kwh: npt.NDArray[np.float64],
    meters: ConnectionMeters,
    db_url: str | None = None,
    chain_url: str | None = None,
) -> LedgerSummary:
    """Write the run's ledger into ``out`` (``ledger.sqlite``, ``trust.json``, ``keys/``),
    settle every period at the run's prices ``price_per_kwh`` [currency/kWh] from the vehicles'
    passes and the connections' ``meters``, and anchor every block and settlement.

    A ledger of an earlier run in ``out`` is replaced, like the other result files; with a
    ``db_url`` the database must hold no ledger yet.
    """
    wall0 = time.perf_counter()
    if db_url is None:
        _replace_previous(Path(out))
    rules = scenario.settlement
    writer = create_run_writer(
        scenario, layout, index, Path(out), price_per_kwh, user_price_per_kwh, db_url
    )
    try:
        meta = writer.meta()
        records = np.concatenate([
            records_from_passes(
                passes, index, scenario.simulation.twin_step_s, rules.period,
                writer.keys.provider_secret(), meta["run_id"],
            ),
            records_from_meters(meters, index, rules.period, layout),
        ])  # fmt: skip
        blocks = writer.append(records)
        settlements, balanced = writer.settle(records)
        anchored = writer.anchor(chain_url)
    finally:
        writer.close()
    return LedgerSummary(
        len(records), len(blocks), len(settlements), anchored, balanced,
        time.perf_counter() - wall0,
    )  # fmt: skip
