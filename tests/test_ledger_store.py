"""Ledger storage: atomic appends under SIGKILL, and the PostgreSQL backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import IN_CI
from ersgrid.errors import LedgerTampered
from ersgrid.ledger.storage import LedgerStore
from ersgrid.ledger.verify import verify_ledger
from ersgrid.ledger.writer import LedgerWriter
from ersgrid.scenario.schema import Scenario
from ledger_helpers import write_tiny_ledger

CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from ledger_helpers import records_array
from ersgrid.ledger.writer import LedgerWriter, PriceTable
from ersgrid.scenario.settlement import SettlementSpec
w = LedgerWriter.create(
    Path({folder!r}), [{{"id": f"u{{i}}", "substation": "S"}} for i in range(16)],
    timezone="Asia/Tokyo", currency="JPY", rules=SettlementSpec(),
    tariffs=[{{"name": "t", "export_price_per_kwh": 8.0, "v2g_payment_per_kwh": 0.0,
              "network_fee_per_kwh": 0.0}}],
    prices=PriceTable(0, 900_000, [20.0]), user_prices=PriceTable(0, 900_000, [50.0]),
    reference_price_per_kwh=30.0,
)
for k in range(100_000):
    rec = records_array(4000, seed=k)  # period k: an hour after period k - 1
    rec["period"] += 3600 * k
    rec["start_ms"] += 3_600_000 * k
    rec["end_ms"] += 3_600_000 * k
    w.append(rec, max_block_records=2000)
    if k % 2 == 0:  # every other period is settled and anchored: the kill finds any state
        w.settle(rec)
        w.anchor()
    p = w.durable()
    print("acked", p.blocks, p.records, p.settled, p.anchored, flush=True)
"""


@pytest.mark.parametrize("delay_s", [0.013, 0.17])
def test_sigkill_mid_append_loses_no_acknowledged_record(tmp_path: Path, delay_s: float) -> None:
    """A writer appending, settling and anchoring without pause is killed with SIGKILL: every
    block, settlement and anchor its durable point reported is there, no half block is, and
    the ledger verifies as it was left, its unfinished tail reported, not taken for tampering."""
    folder = tmp_path / "crash"
    code = CHILD.format(tests=str(Path(__file__).parent), folder=str(folder))
    env = os.environ | {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    acked = []
    while len(acked) < 4:
        line = child.stdout.readline()
        assert line, "the writer died before acknowledging blocks"
        acked.append(tuple(int(x) for x in line.split()[1:]))
    time.sleep(delay_s)
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    acked += [tuple(int(x) for x in ln.split()[1:]) for ln in rest.splitlines() if ln]
    assert child.returncode == -signal.SIGKILL
    blocks, records, settled, anchored = acked[-1]
    writer = LedgerWriter(folder)
    point = writer.durable()
    assert point.blocks >= blocks
    assert point.records >= records
    assert point.settled >= settled
    assert point.anchored >= anchored
    assert writer.store.count_records() == point.records  # no record outside a whole block
    writer.close()
    report = verify_ledger(folder)  # as the kill left it
    assert (report.records, report.blocks, report.periods) == (
        point.records, point.blocks, point.settled,
    )  # fmt: skip
    # two blocks a period, committed one by one: a kill between them leaves half a period
    assert report.unsettled_periods == (point.blocks + 1) // 2 - point.settled
    if not report.complete:
        assert any(w.startswith("incomplete tail") for w in report.warnings)
    writer = LedgerWriter(folder)
    writer.anchor()
    writer.close()
    assert verify_ledger(folder).unanchored_blocks == 0


def _pg_url() -> str:
    return os.environ.get("ERSGRID_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(_pg_url(), connect_timeout=3):
            return None
    except Exception as err:
        return str(err)


@pytest.mark.service
def test_postgresql_backend(tmp_path: Path, tiny: Scenario) -> None:
    """A run's ledger in PostgreSQL (own schema), verified with its trust file, then a deleted
    record caught."""
    if not IN_CI:
        pytest.skip("needs PostgreSQL at 127.0.0.1:5432: runs when CI=true")
    problem = _pg_available()
    if problem is not None:
        pytest.fail(f"PostgreSQL at {_pg_url()} is needed in CI: {problem}")
    import psycopg

    schema = f"ledger_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_url(), autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    url = f"{_pg_url()}?options=-csearch_path%3D{schema}"
    try:
        summary = write_tiny_ledger(tiny, tmp_path / "pg", db_url=url)
        assert summary.settlement_balanced
        assert not (tmp_path / "pg" / "ledger.sqlite").exists()
        report = verify_ledger(tmp_path / "pg", db_url=url, trust=tmp_path / "pg" / "trust.json")
        assert report.keys == "pinned"
        assert report.records == summary.records
        assert report.blocks == summary.blocks
        store = LedgerStore(url)
        assert store.engine.dialect.name == "postgresql"
        store.close()
        with psycopg.connect(url, autocommit=True) as con:  # drop block 0's first record
            con.execute(
                "UPDATE records SET bodies = substring(bodies from 73), "
                "leaves = substring(leaves from 33) WHERE height = 0 AND unit = "
                "(SELECT min(unit) FROM records WHERE height = 0)"
            )
        with pytest.raises(LedgerTampered, match="record seq 0 missing"):
            verify_ledger(tmp_path / "pg", db_url=url)
    finally:
        with psycopg.connect(_pg_url(), autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")
