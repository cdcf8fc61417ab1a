"""Ledger benchmark: append rate, fixed costs, verify time, anchoring time per block.

Prints, for the machine it runs on and in one run:
- records/s appended (sign + hash + store, batched per power unit and block, SQLite with
  synchronous=FULL), each repeat on a fresh ledger, with the spread of the repeats, and the
  peer: records/s of signing every record on its own with Ed25519;
- the fixed costs of anchoring: the contract built from source against loaded from the
  verified cache, and the first in-process chain of the process (imports included) against
  the next one;
- verify of N records (signatures, leaves, Merkle roots, links, settlement recomputed,
  anchors and the chain's counts read from the rebuilt in-process chain);
- anchoring time per block on the in-process chain, one block per transaction and batched.

Usage: python benchmarks/ledger.py [--records 200000] [--per-period 10000] [--units 160]
[--repeats 3] (goal: ≥ 50,000 records/s appended on one core; verify of 1,000,000 records
< 60 s: --records 1000000). Wall times on a loaded machine are noisy: read them beside the
CPU times and the spread.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ersgrid.ledger.chain import AnchorItem, ChainClient, compile_anchor_contract
from ersgrid.ledger.records import RECORD_DTYPE, as_pseudonyms, encode_records
from ersgrid.ledger.verify import verify_ledger
from ersgrid.ledger.writer import LedgerWriter, PriceTable
from ersgrid.scenario.settlement import SettlementSpec

T0_S = 2_059_052_400  # 2035-04-02 00:00 Asia/Tokyo


def make_records(n: int, per_period: int, units: int, seed: int = 0) -> np.ndarray:
    """Synthetic charge records like the twin's: ``per_period`` records an hour."""
    rng = np.random.default_rng(seed)
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["version"] = 1
    rec["unit"] = rng.integers(0, units, n)
    period = T0_S + 3600 * (np.arange(n) // per_period)
    rec["period"] = period
    vehicles = rng.integers(0, max(1, per_period // 40), n)
    names = as_pseudonyms([rng.bytes(16) for _ in range(max(1, per_period // 40))])
    rec["pseudonym"] = names[vehicles]
    rec["start_ms"] = period * 1000 + rng.integers(0, 3_580_000, n)
    rec["end_ms"] = rec["start_ms"] + 20_000
    rec["battery_mwh"] = rng.integers(10_000, 900_000, n)
    rec["grid_mwh"] = rec["battery_mwh"] * 8 // 7
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--per-period", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=160)
    parser.add_argument("--anchor-blocks", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    rec = make_records(args.records, args.per_period, args.units)
    hours = int(np.ceil(args.records / args.per_period))
    tmp = Path(tempfile.mkdtemp(prefix="ersgrid-ledger-bench-"))
    os.environ.setdefault("ERSGRID_CACHE_DIR", str(tmp / "cache"))

    def create(name: str) -> LedgerWriter:
        return LedgerWriter.create(
            tmp / name, [{"id": f"U{i}", "substation": "S"} for i in range(args.units)],
            timezone="Asia/Tokyo", currency="JPY", rules=SettlementSpec(grid_fee_per_kwh=4.0),
            tariffs=[{"name": "bench", "user_price_per_kwh": 55.0, "export_price_per_kwh": 8.5}],
            prices=PriceTable(T0_S * 1000, 900_000, [32.14] * (4 * hours)),
            reference_price_per_kwh=32.14,
        )  # fmt: skip

    try:
        walls, cpus = [], []
        for r in range(args.repeats):
            trial = create(f"trial-{r}")
            t, c = time.perf_counter(), time.process_time()
            blocks = trial.append(rec)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
            trial.close()
            shutil.rmtree(tmp / f"trial-{r}")
        rate = sorted(args.records / w for w in walls)
        per_cpu = sorted(args.records / c for c in cpus)
        print(f"append: {args.records:,} records in {len(blocks)} blocks, {args.repeats} repeats: "
              f"median {rate[len(rate) // 2]:,.0f} records/s wall (min {rate[0]:,.0f}, max "
              f"{rate[-1]:,.0f}), {per_cpu[len(per_cpu) // 2]:,.0f} per CPU-second (min "
              f"{per_cpu[0]:,.0f}, max {per_cpu[-1]:,.0f}) (sign + hash + store, SQLite, "
              f"{args.units} units)")  # fmt: skip
        writer = create("ledger")
        writer.append(rec)

        # peer: one Ed25519 signature per record instead of one per unit and block
        key = writer.keys.unit_key(0)
        sample = encode_records(rec[: min(50_000, len(rec))])
        t, c = time.perf_counter(), time.process_time()
        for body in sample:
            key.sign(body)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(f"peer: signing each record on its own: {len(sample) / wall:,.0f} records/s wall, "
              f"{len(sample) / cpu:,.0f} per CPU-second (signing alone)")  # fmt: skip

        t, c = time.perf_counter(), time.process_time()
        settled, balanced = writer.settle(rec)
        print(f"settle: {len(settled)} periods in {time.perf_counter() - t:.2f} s wall "
              f"({time.process_time() - c:.2f} s CPU), balanced={balanced}")  # fmt: skip
        t, c = time.perf_counter(), time.process_time()
        anchored = writer.anchor()
        print(f"anchor (first in the process: imports, contract build, chain start, deploy): "
              f"{anchored} roots in {time.perf_counter() - t:.2f} s wall "
              f"({time.process_time() - c:.2f} s CPU)")  # fmt: skip
        writer.close()
        _fixed_costs(create, rec[: args.per_period])

        t, c = time.perf_counter(), time.process_time()
        rep = verify_ledger(tmp / "ledger")
        verify_s, verify_cpu = time.perf_counter() - t, time.process_time() - c
        print(f"verify: {rep.records:,} records, {rep.blocks} blocks, {rep.periods} periods, "
              f"{rep.anchors_checked} anchors in {verify_s:.2f} s wall ({verify_cpu:.2f} s CPU) "
              f"→ {rep.records / verify_s:,.0f} records/s")  # fmt: skip

        # anchoring per block on the in-process chain
        client = ChainClient.in_process(os.urandom(32))
        client.deploy(compile_anchor_contract(), os.urandom(32))
        n = args.anchor_blocks
        roots = [os.urandom(32) for _ in range(2 * n)]
        t = time.perf_counter()
        for i in range(n):
            client.anchor([AnchorItem(0, i, roots[i])])
        single = (time.perf_counter() - t) / n
        t = time.perf_counter()
        client.anchor([AnchorItem(0, n + i, roots[n + i]) for i in range(n)])
        batched = (time.perf_counter() - t) / n
        print(f"anchor per block, in-process chain: {single * 1000:.1f} ms one per transaction, "
              f"{batched * 1000:.2f} ms batched ({n} per transaction)")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fixed_costs(create: Callable[[str], LedgerWriter], rec: np.ndarray) -> None:
    """What anchoring costs once per process and what it costs again: the contract build
    (from source, then from the verified cache) and a second ledger's chain and deploy."""
    import tempfile

    with tempfile.TemporaryDirectory() as cold:
        t, c = time.perf_counter(), time.process_time()
        compile_anchor_contract(cache_dir=Path(cold))
        built = (time.perf_counter() - t, time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        compile_anchor_contract(cache_dir=Path(cold))
        cached = (time.perf_counter() - t, time.process_time() - c)
    print(f"contract build: from source {built[0]:.2f} s wall ({built[1]:.2f} s CPU), "
          f"from the verified cache {cached[0] * 1000:.1f} ms wall "
          f"({cached[1] * 1000:.1f} ms CPU)")  # fmt: skip
    second = create("second")
    second.append(rec)
    second.settle(rec)
    t, c = time.perf_counter(), time.process_time()
    n = second.anchor()
    print(f"anchor of a second ledger in the same process (chain start, deploy, {n} roots): "
          f"{time.perf_counter() - t:.2f} s wall "
          f"({time.process_time() - c:.2f} s CPU)")  # fmt: skip
    second.close()


if __name__ == "__main__":
    main()
