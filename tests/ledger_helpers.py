"""Helpers shared by the ledger tests: a small real ledger from the ``tiny`` scenario."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ersgrid.ledger.run_ledger import ConnectionMeters, LedgerSummary, write_run_ledger
from ersgrid.run.runner import run
from ersgrid.scenario.layout import build_layout
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import planning_index
from ersgrid.world import build_world
from ersgrid.world.arrivals import DAY_ID_STRIDE

DAYS = 0.125  # three hours: three hourly periods
FIRST_VEHICLE = int(dt.date(2035, 4, 2).toordinal() * DAY_ID_STRIDE)
"""Id of the first vehicle that enters ``tiny`` on its first day (ids are drawn day by day)."""


def tiny_passes(tiny: Scenario) -> pd.DataFrame:
    """The twin's passes of three hours of ``tiny``, plus V2G passes (negative energy)."""
    passes = run(tiny, days=DAYS).passes
    v2g = passes.iloc[::7].copy()
    v2g["battery_kwh"] *= -0.5
    v2g["grid_kwh"] = v2g["battery_kwh"] * 0.9
    return pd.concat([passes, v2g], ignore_index=True)


def tiny_settled(tiny: Scenario) -> Scenario:
    """``tiny`` with a network fee, a PPA price, V2G payments and shares, so that every
    settlement line occurs."""
    return tiny.model_copy(
        update={
            "settlement": tiny.settlement.model_copy(
                update={"ppa_price_per_kwh": 6.0,
                        "shares": {"road_operator": 0.7, "retailer": 0.2, "automaker": 0.1}}
            ),
            "prices": tiny.prices.model_copy(update={"network_fee_per_kwh": 4.0}),
            "response": tiny.response.model_copy(update={"v2g_payment_per_kwh": 20.0}),
        }
    )  # fmt: skip


def tiny_meters(tiny: Scenario) -> ConnectionMeters:
    """The connections' meters of three hours of ``tiny`` (a run's import, export and
    delivered renewables)."""
    res = run(tiny, days=DAYS)
    h = res.world.step_h
    return ConnectionMeters(
        res.import_kw * h, res.export_kw * h, (res.energy.renewable_kw - res.curtailed_kw) * h
    )


def write_tiny_ledger(
    tiny: Scenario,
    folder: Path,
    db_url: str | None = None,
    passes: pd.DataFrame | None = None,
    chain_url: str | None = None,
) -> LedgerSummary:
    """Write the ledger of three hours of ``tiny`` into ``folder`` (anchored on the node at
    ``chain_url``, else on the in-process chain)."""
    tiny = tiny_settled(tiny)
    passes = tiny_passes(tiny) if passes is None else passes
    world = build_world(tiny, planning_index(tiny, DAYS))
    return write_run_ledger(
        tiny, build_layout(tiny), world.index, passes, folder, world.price_per_kwh,
        world.user_price_per_kwh, tiny_meters(tiny), db_url=db_url, chain_url=chain_url,
    )  # fmt: skip


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


def rewrite_with_all_keys(folder: Path) -> None:
    """An insider holding every key takes 0.1 kWh off one record of block 1 and re-signs and
    re-settles everything consistently (same timestamps); the chain is left alone."""
    import sqlite3

    from ersgrid.ledger.blocks import GENESIS_HASH, BlockHeader, build_block
    from ersgrid.ledger.records import decode_records
    from ersgrid.ledger.writer import LedgerWriter

    writer = LedgerWriter(folder)
    store = writer.store
    old = [BlockHeader.decode(hdr) for _, hdr, _, _ in store.block_rows()]
    chunks = [np.array(decode_records(store.block_records(h.height)), copy=True) for h in old]
    chunks[1]["battery_mwh"][5] -= 100_000
    con = sqlite3.connect(folder / "ledger.sqlite")
    with con:
        for table in ("records", "attestations", "blocks", "statements", "settlements"):
            con.execute(f"DELETE FROM {table}")
    con.close()
    prev = GENESIS_HASH
    for head, rec in zip(old, chunks, strict=True):
        block = build_block(rec, head.height, prev, writer.keys, head.timestamp_ms)
        store.append_block(block)
        prev = block.hash
    _, balanced = writer.settle(np.concatenate(chunks))
    writer.close()
    assert balanced


EVM_DIR = Path(__file__).resolve().parents[1] / "tools" / "evm"


class EvmNode:
    """Hardhat Network (``tools/evm``, from the npm registry) on a free 127.0.0.1 port.

    Installs the locked packages with ``npm ci`` if ``tools/evm/node_modules`` is missing,
    starts ``hardhat node`` and waits until it answers JSON-RPC; :meth:`stop` ends it.
    """

    def __init__(self, timeout_s: float = 90.0) -> None:
        import os
        import shutil
        import subprocess

        node = shutil.which("node")
        if node is None:
            raise FileNotFoundError("node (Node.js) is not on PATH")
        cli = EVM_DIR / "node_modules" / "hardhat" / "internal" / "cli" / "cli.js"
        if not cli.exists():
            npm = shutil.which("npm")
            if npm is None:
                raise FileNotFoundError("npm is not on PATH")
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=EVM_DIR, capture_output=True,
                text=True, timeout=600, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"npm ci in {EVM_DIR} failed:\n{done.stdout}{done.stderr}")
        env = os.environ | {"HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "NO_COLOR": "1"}
        last = ""
        for _attempt in range(3):
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.log = (EVM_DIR / "node_modules" / f".node-{self.port}.log").open("w+")
            self.process = subprocess.Popen(
                [node, str(cli), "node", "--hostname", "127.0.0.1", "--port", str(self.port)],
                cwd=EVM_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if self._wait(timeout_s):
                return
            self.log.seek(0)
            last = self.log.read()[-2000:]
            self.stop()
        raise RuntimeError(f"hardhat node did not start on 127.0.0.1:\n{last}")

    def _wait(self, timeout_s: float) -> bool:
        import json
        import time
        import urllib.request

        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).encode()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            request = urllib.request.Request(self.url, body, {"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=2) as reply:
                    if "result" in json.loads(reply.read()):
                        return True
            except OSError:
                time.sleep(0.2)
        return False

    def stop(self) -> None:
        """End the node (SIGTERM, then SIGKILL after 10 s) and remove its log."""
        import subprocess
        from contextlib import suppress

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        with suppress(OSError):
            Path(self.log.name).unlink()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
