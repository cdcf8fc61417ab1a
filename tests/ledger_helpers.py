"""Helpers shared by the ledger tests: a small real ledger from the ``tiny`` scenario."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ersgrid.ledger.run_ledger import LedgerSummary, write_run_ledger
from ersgrid.run.runner import run
from ersgrid.scenario.layout import build_layout
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import planning_index

DAYS = 0.125  # three hours: three hourly periods


def tiny_passes(tiny: Scenario) -> pd.DataFrame:
    """The twin's passes of three hours of ``tiny``, plus V2G passes (negative energy)."""
    passes = run(tiny, days=DAYS).passes
    v2g = passes.iloc[::7].copy()
    v2g["battery_kwh"] *= -0.5
    v2g["grid_kwh"] = v2g["battery_kwh"] * 0.9
    return pd.concat([passes, v2g], ignore_index=True)


def write_tiny_ledger(
    tiny: Scenario, folder: Path, db_url: str | None = None, passes: pd.DataFrame | None = None
) -> LedgerSummary:
    """Write the ledger of three hours of ``tiny`` into ``folder``."""
    tiny = tiny.model_copy(
        update={
            "settlement": tiny.settlement.model_copy(
                update={"grid_fee_per_kwh": 4.0, "v2g_payment_per_kwh": 20.0,
                        "shares": {"road_operator": 0.7, "retailer": 0.2, "automaker": 0.1}}
            )
        }
    )  # fmt: skip
    passes = tiny_passes(tiny) if passes is None else passes
    index = planning_index(tiny, DAYS)
    return write_run_ledger(tiny, build_layout(tiny), index, passes, folder, db_url=db_url)


def copy_ledger(src: Path, dst: Path) -> Path:
    """A copy of a ledger folder (database, keys, chain cache) to tamper with."""
    shutil.copytree(src, dst)
    return dst


def records_array(n: int, seed: int = 0) -> np.ndarray:
    """``n`` synthetic records of one period (for appending benchmarks and crash tests)."""
    from ersgrid.ledger.records import RECORD_DTYPE, as_pseudonyms

    rng = np.random.default_rng(seed)
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["version"] = 1
    rec["unit"] = rng.integers(0, 16, n)
    rec["pseudonym"] = as_pseudonyms([rng.bytes(16) for _ in range(n)])
    rec["period"] = 2_059_052_400
    rec["start_ms"] = 2_059_052_400_000 + rng.integers(0, 3_500_000, n)
    rec["end_ms"] = rec["start_ms"] + 20_000
    rec["battery_mwh"] = rng.integers(10_000, 900_000, n)
    rec["grid_mwh"] = rec["battery_mwh"] * 9 // 8
    return rec


def record_body(folder: Path, seq: int) -> bytes:
    """The stored canonical bytes of record ``seq`` of the ledger in ``folder``."""
    from ersgrid.ledger.records import RECORD_SIZE, decode_records
    from ersgrid.ledger.storage import LedgerStore, database_url

    store = LedgerStore(database_url(folder))
    try:
        for height, *_ in store.block_rows():
            for _unit, raw, _leaves in store.record_rows(height):
                rec = decode_records(raw)
                hit = np.flatnonzero(rec["seq"] == seq)
                if len(hit):
                    k = int(hit[0])
                    return raw[k * RECORD_SIZE : (k + 1) * RECORD_SIZE]
    finally:
        store.close()
    raise KeyError(seq)


def delete_record(folder: Path, seq: int) -> None:
    """Remove record ``seq`` (its bytes and leaf) from the SQLite file, as an intruder would."""
    import sqlite3

    from ersgrid.ledger.records import RECORD_SIZE, decode_records

    con = sqlite3.connect(folder / "ledger.sqlite")
    with con:
        for height, unit, raw, leaves in con.execute(
            "SELECT height, unit, bodies, leaves FROM records"
        ).fetchall():
            hit = np.flatnonzero(decode_records(raw)["seq"] == seq)
            if len(hit):
                k = int(hit[0])
                con.execute(
                    "UPDATE records SET bodies = ?, leaves = ? WHERE height = ? AND unit = ?",
                    (raw[: k * RECORD_SIZE] + raw[(k + 1) * RECORD_SIZE :],
                     leaves[: 32 * k] + leaves[32 * (k + 1) :], height, unit),
                )  # fmt: skip
    con.close()


def roll_back_last_block(folder: Path, settlement_too: bool = True) -> tuple[int, int]:
    """Delete the newest block (header, attestations, records) and, with ``settlement_too``,
    the settlement of its period, from the SQLite file; return (height, period)."""
    import sqlite3

    con = sqlite3.connect(folder / "ledger.sqlite")
    with con:
        height, period = con.execute(
            "SELECT height, period FROM blocks ORDER BY height DESC LIMIT 1"
        ).fetchone()
        for table in ("blocks", "attestations", "records"):
            con.execute(f"DELETE FROM {table} WHERE height = ?", (height,))
        if settlement_too:
            for table in ("statements", "settlements"):
                con.execute(f"DELETE FROM {table} WHERE period = ?", (period,))
    con.close()
    return int(height), int(period)
