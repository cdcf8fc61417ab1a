"""Verification: recompute every leaf, signature, Merkle root, hash link, settlement and anchor.

:func:`verify_ledger` stops at the first mismatch and raises :class:`LedgerTampered` naming the
record, block or period and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.exc import SQLAlchemyError

from ersgrid.errors import LedgerError, LedgerTampered
from ersgrid.ledger.blocks import (
    BLOCK_DOMAIN,
    GENESIS_HASH,
    METER_DOMAIN,
    Attestation,
    BlockHeader,
    attestation_leaf,
)
from ersgrid.ledger.chain import KIND_BLOCK, KIND_SETTLEMENT, ChainClient, compile_anchor_contract
from ersgrid.ledger.keys import verify_signature
from ersgrid.ledger.merkle import merkle_root
from ersgrid.ledger.records import LEAF_PREFIX, decode_records
from ersgrid.ledger.settlement import check_balance, settle_period
from ersgrid.ledger.storage import LedgerStore, database_url
from ersgrid.ledger.writer import PriceTable, settlement_message
from ersgrid.scenario.settlement import SettlementSpec

__all__ = ["VerifyReport", "open_chain", "verify_ledger"]


@dataclass(frozen=True)
class VerifyReport:
    """What a successful verification covered."""

    records: int
    blocks: int
    periods: int
    anchors_checked: int
    chain: str
    wall_time_s: float


def _bad(what: str) -> LedgerTampered:
    return LedgerTampered(what)


def open_chain(folder: Path, store: LedgerStore, chain_url: str | None) -> ChainClient | None:
    """A client for the ledger's anchor contract: the node at ``chain_url``, or the in-process
    chain rebuilt from the ledger's transactions. None if the ledger was never anchored."""
    meta = store.meta()
    chain = meta.get("chain")
    if chain is None:
        return None
    artifact = compile_anchor_contract(folder / "chain", chain["evm_version"])
    if chain_url is None and chain["kind"] == "in-process":
        # no secret needed: fund the recorded anchoring address and replay its transactions
        client = ChainClient.in_process(
            bytes(31) + b"\x01", replay=store.chain_txs(), funded=chain["account"]
        )
    else:
        url = chain_url or chain["url"]
        if not url:
            raise LedgerError("the ledger was anchored on a JSON-RPC chain: give --chain-url")
        client = ChainClient.connect(url, bytes(31) + b"\x01")
        if client.chain_id != chain["chain_id"]:
            raise LedgerError(
                f"chain at {url!r} has chain id {client.chain_id}, the ledger was anchored on "
                f"{chain['chain_id']}"
            )
    client.attach(artifact, chain["contract"])
    return client


def _verify_block(
    store: LedgerStore,
    position: int,
    row: tuple[int, bytes, bytes, bytes],
    prev_hash: bytes,
    next_seq: int,
    producer: bytes,
    unit_keys: list[bytes],
) -> tuple[BlockHeader, npt.NDArray[np.void]]:
    height, raw, stored_hash, signature = row
    try:
        head = BlockHeader.decode(raw)
    except ValueError as err:
        raise _bad(f"block at position {position}: header cannot be decoded ({err})") from None
    if head.height != position or height != position:
        raise _bad(
            f"block at position {position}: its header says height {head.height} (stored as "
            f"{height}): reordered or swapped block"
        )
    if head.hash != stored_hash:
        raise _bad(f"block {position}: header altered (its hash no longer matches)")
    if head.prev_hash != prev_hash:
        raise _bad(
            f"block {position}: previous-block hash does not match block {position - 1}: "
            "hash link broken (reordered, removed or replaced block)"
        )
    if head.signer != producer or not verify_signature(
        producer, signature, BLOCK_DOMAIN + head.hash
    ):
        raise _bad(f"block {position}: bad signature of the road operator on the header")
    if head.first_seq != next_seq:
        raise _bad(f"block {position}: starts at record {head.first_seq}, expected {next_seq}")
    end = head.first_seq + head.n_records
    rows = store.record_rows(head.first_seq, end)
    seqs = [int(r[0]) for r in rows]
    if seqs != list(range(head.first_seq, end)):
        missing = sorted(set(range(head.first_seq, end)) - set(seqs))
        raise _bad(
            f"block {position}: record seq {missing[0]} missing ({len(missing)} of "
            f"{head.n_records} records gone)"
        )
    bodies = [bytes(r[5]) for r in rows]
    try:
        rec = decode_records(bodies)
    except ValueError as err:
        raise _bad(f"block {position}: a record has the wrong length ({err})") from None
    sha = hashlib.sha256
    leaves = []
    for r, body in zip(rows, bodies, strict=True):
        leaf = sha(LEAF_PREFIX + body).digest()
        if leaf != bytes(r[6]):
            raise _bad(
                f"record seq {r[0]} (block {position}): altered value: its bytes no longer hash "
                "to its leaf"
            )
        leaves.append(leaf)
    cols_ok = (
        np.array_equal(rec["seq"].astype(np.int64), np.array(seqs))
        and all(int(r[1]) == position for r in rows)
        and np.array_equal(rec["unit"].astype(np.int64), np.array([int(r[2]) for r in rows]))
        and np.array_equal(rec["period"].astype(np.int64), np.array([int(r[4]) for r in rows]))
        and [bytes(p) for p in rec["pseudonym"]] == [bytes(r[3]) for r in rows]
    )
    if not cols_ok:
        bad = next(
            int(r[0]) for r, x in zip(rows, rec, strict=True)
            if int(x["seq"]) != int(r[0]) or int(r[1]) != position or int(x["unit"]) != int(r[2])
            or int(x["period"]) != int(r[4]) or bytes(x["pseudonym"]) != bytes(r[3])
        )  # fmt: skip
        raise _bad(f"record seq {bad} (block {position}): index columns disagree with its bytes")
    if np.any(rec["period"] != head.period):
        raise _bad(f"block {position}: holds a record of another period")
    atts = store.attestation_rows(position)
    if len(atts) != head.n_units:
        raise _bad(
            f"block {position}: {len(atts)} unit attestations stored, header says {head.n_units}"
        )
    att_leaves = []
    covered = 0
    for unit, body, sig in atts:
        att = Attestation.decode(body, sig)
        a, b = att.first_seq - head.first_seq, att.first_seq - head.first_seq + att.count
        if att.unit != unit or att.height != position or att.period != head.period or a != covered:
            raise _bad(f"block {position}: attestation of unit {unit} does not fit the block")
        if unit >= len(unit_keys) or not verify_signature(
            unit_keys[unit], sig, METER_DOMAIN + body
        ):
            raise _bad(f"block {position}: bad signature of power unit {unit} on its records")
        if np.any(rec["unit"][a:b] != unit) or merkle_root(leaves[a:b]) != att.unit_root:
            raise _bad(
                f"block {position}: records of unit {unit} (seq {att.first_seq}.."
                f"{att.first_seq + att.count - 1}) do not match the root the unit signed"
            )
        covered = b
        att_leaves.append(attestation_leaf(body))
    if covered != head.n_records or merkle_root(att_leaves) != head.root:
        raise _bad(f"block {position}: Merkle root does not match its records")
    return head, rec


def verify_ledger(
    folder: Path, db_url: str | None = None, chain_url: str | None = None
) -> VerifyReport:
    """Verify the ledger in ``folder`` completely; raise LedgerTampered at the first mismatch.

    Parameters
    ----------
    folder : Path
        The ledger folder (holds ``ledger.sqlite`` unless ``db_url``, and ``chain/``).
    db_url : str, optional
        Database URL if not the folder's SQLite file.
    chain_url : str, optional
        JSON-RPC node to read the anchors from; by default the in-process chain is rebuilt
        from the ledger's own transactions (or the node the ledger was anchored on is used).
    """
    wall0 = time.perf_counter()
    folder = Path(folder)
    url = database_url(folder, db_url)
    if db_url is None and not (folder / "ledger.sqlite").exists():
        raise LedgerError(f"no ledger in {str(folder)!r}: ledger.sqlite is missing")
    store = LedgerStore(url)
    try:
        meta = store.meta()
        producer = bytes.fromhex(meta["parties"]["road_operator"])
        unit_keys = [bytes.fromhex(u["public_key"]) for u in meta["units"]]
        prev, next_seq = GENESIS_HASH, 0
        heads = []
        by_period: dict[int, list[npt.NDArray[np.void]]] = {}
        for position, row in enumerate(store.block_rows()):
            head, rec = _verify_block(store, position, row, prev, next_seq, producer, unit_keys)
            prev, next_seq = head.hash, head.first_seq + head.n_records
            heads.append(head)
            by_period.setdefault(head.period, []).append(rec)
        total = store.count_records()
        if total != next_seq:
            raise _bad(
                f"{total - next_seq} stored records (from seq {next_seq}) belong to no block"
            )
        periods = _verify_settlements(store, meta, producer, by_period)
        anchors, chain_name = _verify_anchors(folder, store, heads, periods, chain_url)
    except (SQLAlchemyError, store.engine.dialect.loaded_dbapi.Error) as err:
        cause = getattr(err, "orig", None) or err
        raise _bad(f"the ledger database cannot be read (damaged or altered): {cause}") from None
    except (KeyError, ValueError, TypeError) as err:
        raise _bad(f"the ledger's settings (meta table) are damaged or altered: {err!r}") from None
    finally:
        store.close()
    return VerifyReport(
        next_seq, len(heads), len(periods), anchors, chain_name, time.perf_counter() - wall0
    )


def _verify_settlements(
    store: LedgerStore,
    meta: dict[str, Any],
    producer: bytes,
    by_period: dict[int, list[npt.NDArray[np.void]]],
) -> dict[int, bytes]:
    rules = SettlementSpec.model_validate(meta["rules"])
    p = meta["prices"]
    prices = PriceTable(p["start_ms"], p["step_ms"], p["values"])
    roots = {}
    for period, n, root, sig in store.settlement_rows():
        rows = store.statement_rows(period)
        if len(rows) != n:
            raise _bad(f"period {period}: {len(rows)} statements stored, {n} settled")
        if not verify_signature(producer, sig, settlement_message(period, root)):
            raise _bad(f"period {period}: bad signature on the settlement")
        if period not in by_period:
            raise _bad(f"period {period}: settled but the ledger holds no records of it")
        rec = np.concatenate(by_period[period])
        redo = settle_period(
            period, rec, prices.at(rec["end_ms"]), meta["tariffs"], rules,
            meta["reference_price_per_kwh"], meta["currency"],
        )  # fmt: skip
        expected = redo.canonical()
        for (party, body, leaf), (party2, body2, leaf2) in zip(rows, expected, strict=False):
            if party != party2 or body != body2:
                raise _bad(
                    f"period {period}: statement of {party} differs from the one the records give"
                )
            if leaf != leaf2:
                raise _bad(f"period {period}: stored leaf of the statement of {party} is wrong")
        if len(expected) != len(rows) or redo.root() != root:
            raise _bad(f"period {period}: settlement root does not match the records")
        problem = check_balance(redo, rec)
        if problem:
            raise _bad(problem)
        roots[period] = root
    return roots


def _verify_anchors(
    folder: Path,
    store: LedgerStore,
    heads: list[BlockHeader],
    periods: dict[int, bytes],
    chain_url: str | None,
) -> tuple[int, str]:
    client = open_chain(folder, store, chain_url)
    if client is None:
        if heads:
            raise _bad("block 0: not anchored on any chain (the ledger has no chain record)")
        return 0, "none"
    checked = 0
    for head in heads:
        on_chain = client.root(KIND_BLOCK, head.height)
        if on_chain == bytes(32):
            raise _bad(f"block {head.height}: root not anchored on chain")
        if on_chain != head.hash:
            raise _bad(
                f"block {head.height}: root anchored on chain (0x{on_chain.hex()[:16]}…) is "
                f"different from the block's (0x{head.hash.hex()[:16]}…)"
            )
        checked += 1
    for period, root in periods.items():
        on_chain = client.root(KIND_SETTLEMENT, period)
        if on_chain != root:
            what = "not anchored" if on_chain == bytes(32) else "different on chain"
            raise _bad(f"settlement of period {period}: root {what}")
        checked += 1
    return checked, f"{client.kind} (chain id {client.chain_id})"
