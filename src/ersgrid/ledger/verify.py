"""Verification: recompute every leaf, signature, Merkle root, hash link, settlement and anchor.

:func:`verify_ledger` stops at the first mismatch and raises :class:`LedgerTampered` (or one of
its kinds: :class:`LedgerRolledBack`, :class:`LedgerForged`) naming the record, block or
period and what is wrong with it. What it cannot vouch for is said in the report's
``warnings``: keys taken from the ledger itself, anchors on the in-process chain, a tail of
blocks or periods not yet settled or anchored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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
from ersgrid.ledger.chain import (
    KIND_BLOCK,
    KIND_SETTLEMENT,
    ChainClient,
    compile_anchor_contract,
    contract_address,
)
from ersgrid.ledger.keys import verify_signature
from ersgrid.ledger.merkle import merkle_root
from ersgrid.ledger.records import RECORD_SIZE, decode_records, leaf_hashes_raw
from ersgrid.ledger.settlement import check_balance, settle_period
from ersgrid.ledger.storage import LedgerStore, database_url
from ersgrid.ledger.trust import Trust
from ersgrid.ledger.writer import LEDGER_FORMAT, price_tables, settlement_message
from ersgrid.scenario.settlement import SettlementSpec

__all__ = [
    "IN_PROCESS_CAVEAT",
    "LedgerForged",
    "LedgerRolledBack",
    "VerifyReport",
    "open_chain",
    "verify_ledger",
]

IN_PROCESS_CAVEAT = (
    "anchors were checked on the in-process chain rebuilt from the ledger's own transaction "
    "log: this protects nothing against someone who can rewrite the ledger's folder; anchor on "
    "a chain the writer does not control (ersgrid ledger anchor --chain-url) and verify with "
    "--chain-url and --trust"
)
UNPINNED_CAVEAT = (
    "signer keys were taken from the ledger itself (no --trust): a ledger re-signed with fresh "
    "keys would verify; give the trust file the parties kept when the ledger was created"
)


class LedgerRolledBack(LedgerTampered):
    """The chain holds roots the ledger no longer has: blocks or settlements were removed."""


class LedgerForged(LedgerTampered):
    """The ledger is signed by keys other than the pinned ones, or anchored by another account
    or contract than the pinned one."""


@dataclass(frozen=True)
class VerifyReport:
    """What a successful verification covered, and what it could not vouch for.

    ``unanchored_blocks``, ``unsettled_periods`` and ``unanchored_settlements`` count the
    ledger's tail that a writer has not finished (or had not when it stopped): it is
    consistent, but nothing on the chain protects it yet. ``keys`` is ``pinned`` when the
    signatures were checked against a trust file, ``ledger`` when against the ledger's own
    keys.
    """

    records: int
    blocks: int
    periods: int
    anchors_checked: int
    chain: str
    wall_time_s: float
    unanchored_blocks: int = 0
    unsettled_periods: int = 0
    unanchored_settlements: int = 0
    keys: str = "ledger"
    warnings: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        """True when every block is settled and every root anchored."""
        return not (self.unanchored_blocks or self.unsettled_periods or self.unanchored_settlements)


def _bad(what: str) -> LedgerTampered:
    return LedgerTampered(what)


def _period_name(period: int, timezone: str) -> str:
    try:
        local = datetime.fromtimestamp(period, ZoneInfo(timezone)).strftime("%Y-%m-%dT%H")
    except (ValueError, KeyError, OverflowError, OSError):
        return str(period)
    return f"{local} ({period})"


def open_chain(
    folder: Path, store: LedgerStore, chain_url: str | None, trust: Trust | None = None
) -> ChainClient | None:
    """A client for the ledger's anchor contract: the node at ``chain_url``, or the in-process
    chain rebuilt from the ledger's transactions. None if the ledger was never anchored (and
    no pinned account and node say where to look).

    With a pinned ``trust``, the contract is the pinned anchoring account's first deployment,
    whatever the ledger's meta says (:class:`LedgerForged` if the ledger names another).
    """
    meta = store.meta()
    chain = meta.get("chain")
    pinned = trust.chain_account if trust is not None and trust.pinned else None
    if chain is None and not (pinned and chain_url):
        return None
    chain = chain or {"kind": "json-rpc", "url": chain_url, "evm_version": "paris"}
    if pinned and chain.get("account") not in (None, pinned):
        raise LedgerForged(
            f"the ledger was anchored by account {chain['account']}, not by the pinned anchoring "
            f"account {pinned} ({trust.source if trust else ''})"
        )
    account = pinned or chain["account"]
    expected = contract_address(account)
    if chain.get("contract") not in (None, expected):
        raise LedgerForged(
            f"the ledger names anchor contract {chain['contract']}, but the contract of its "
            f"anchoring account {account} is {expected}"
        )
    artifact = compile_anchor_contract(chain["evm_version"])
    if chain_url is None and chain["kind"] == "in-process":
        # no secret needed: fund the recorded anchoring address and replay its transactions
        client = ChainClient.in_process(
            bytes(31) + b"\x01", replay=store.chain_txs(), funded=account
        )
    else:
        url = chain_url or chain["url"]
        if not url:
            raise LedgerError("the ledger was anchored on a JSON-RPC chain: give --chain-url")
        client = ChainClient.connect(url, bytes(31) + b"\x01")
        if "chain_id" in chain and client.chain_id != chain["chain_id"]:
            raise LedgerError(
                f"chain at {url!r} has chain id {client.chain_id}, the ledger was anchored on "
                f"{chain['chain_id']}"
            )
    try:
        client.attach(artifact, expected)
    except LedgerError as err:
        if "not ersgrid's anchor contract" in str(err):
            raise LedgerForged(str(err)) from None
        raise
    return client


def _missing_seq(expected: npt.NDArray[np.int64], seqs: npt.NDArray[np.int64]) -> int | None:
    gone = np.setdiff1d(expected, seqs)
    return int(gone[0]) if len(gone) else None


def _verify_block(
    store: LedgerStore,
    position: int,
    row: tuple[int, bytes, bytes, bytes],
    prev_hash: bytes,
    next_seq: int,
    keys: Trust,
) -> tuple[BlockHeader, npt.NDArray[np.void]]:
    height, raw, stored_hash, signature = row
    producer = keys.road_operator
    unit_keys = keys.unit_keys()
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
        who = "the pinned road operator" if keys.pinned else "the road operator"
        raise _bad(f"block {position}: bad signature of {who} on the header")
    if head.first_seq != next_seq:
        raise _bad(f"block {position}: starts at record {head.first_seq}, expected {next_seq}")
    atts = store.attestation_rows(position)
    if len(atts) != head.n_units:
        raise _bad(
            f"block {position}: {len(atts)} unit attestations stored, header says {head.n_units}"
        )
    chunks = {unit: (body, leaves) for unit, body, leaves in store.record_rows(position)}
    att_leaves = []
    parts = []
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
        span = f"seq {att.first_seq}..{att.first_seq + att.count - 1}"
        raw_records, stored_leaves = chunks.pop(unit, (b"", b""))
        if len(raw_records) % RECORD_SIZE:
            raise _bad(f"block {position}: a record of unit {unit} ({span}) has the wrong length")
        rec = decode_records(raw_records)
        seqs = rec["seq"].astype(np.int64)
        expected = np.arange(att.first_seq, att.first_seq + att.count, dtype=np.int64)
        if not np.array_equal(seqs, expected):
            gone = _missing_seq(expected, seqs)
            if gone is not None:
                lost = len(np.setdiff1d(expected, seqs))
                raise _bad(
                    f"block {position}: record seq {gone} missing ({lost} of {att.count} "
                    f"records of unit {unit} gone)"
                )
            raise _bad(f"block {position}: records of unit {unit} are not {span} in order")
        leaves = leaf_hashes_raw(raw_records)
        if b"".join(leaves) != stored_leaves:
            k = next(
                (i for i, lf in enumerate(leaves) if stored_leaves[32 * i : 32 * i + 32] != lf),
                len(leaves) - 1,
            )
            raise _bad(
                f"record seq {att.first_seq + k} (block {position}): altered value: its bytes "
                "no longer hash to its leaf"
            )
        if np.any(rec["unit"] != unit) or np.any(rec["period"] != head.period):
            k = int(np.flatnonzero((rec["unit"] != unit) | (rec["period"] != head.period))[0])
            raise _bad(
                f"record seq {att.first_seq + k} (block {position}): names another power unit "
                "or period than its block"
            )
        if merkle_root(leaves) != att.unit_root:
            raise _bad(
                f"block {position}: records of unit {unit} ({span}) do not match the root the "
                "unit signed"
            )
        covered = b
        att_leaves.append(attestation_leaf(body))
        parts.append(rec)
    if chunks:
        raise _bad(
            f"block {position}: records stored for unit(s) {sorted(chunks)} that attested nothing"
        )
    if covered != head.n_records or merkle_root(att_leaves) != head.root:
        raise _bad(f"block {position}: Merkle root does not match its records")
    return head, np.concatenate(parts) if parts else decode_records(b"")


def _pinned_keys(meta: dict[str, Any], trust: Trust | None) -> Trust:
    """The keys to check against: the trust file's, after checking the ledger names them."""
    own = Trust.of_meta(meta)
    if trust is None:
        return own
    if own.run_id != trust.run_id:
        raise LedgerForged(
            f"the ledger's run id {own.run_id} is not the pinned one {trust.run_id} "
            f"({trust.source}): another ledger, or one re-created"
        )
    for role, key in trust.parties.items():
        if own.parties.get(role) != key:
            raise LedgerForged(
                f"the ledger's public key of {role} ({str(own.parties.get(role))[:16]}…) is not "
                f"the pinned one ({key[:16]}…, {trust.source}): re-signed with other keys"
            )
    if own.units != trust.units:
        unit = next(
            (i for i, (a, b) in enumerate(zip(own.units, trust.units, strict=False)) if a != b),
            min(len(own.units), len(trust.units)),
        )
        raise LedgerForged(
            f"the ledger's public key of power unit {unit} is not the pinned one "
            f"({trust.source}): re-signed with other keys"
        )
    return trust


def verify_ledger(
    folder: Path,
    db_url: str | None = None,
    chain_url: str | None = None,
    trust: Trust | Path | None = None,
) -> VerifyReport:
    """Verify the ledger in ``folder`` completely; raise LedgerTampered at the first mismatch.

    Parameters
    ----------
    folder : Path
        The ledger folder (holds ``ledger.sqlite`` unless ``db_url``).
    db_url : str, optional
        Database URL if not the folder's SQLite file.
    chain_url : str, optional
        JSON-RPC node to read the anchors from; by default the in-process chain is rebuilt
        from the ledger's own transactions (or the node the ledger was anchored on is used).
    trust : Trust or Path, optional
        The pinned keys (a trust file kept outside the ledger): signatures are checked against
        them, and the anchor contract must be the pinned account's, publishing these keys.
    """
    wall0 = time.perf_counter()
    folder = Path(folder)
    if isinstance(trust, Path | str):
        trust = Trust.load(Path(trust))
    url = database_url(folder, db_url)
    if db_url is None and not (folder / "ledger.sqlite").exists():
        raise LedgerError(f"no ledger in {str(folder)!r}: ledger.sqlite is missing")
    store = LedgerStore(url)
    warnings: list[str] = []
    try:
        meta = store.meta()
        if meta.get("format") != LEDGER_FORMAT:
            raise LedgerError(
                f"the ledger in {str(folder)!r} has storage format {meta.get('format')!r}; this "
                f"ersgrid reads format {LEDGER_FORMAT} (write the ledger again)"
            )
        keys = _pinned_keys(meta, trust)
        if not keys.pinned:
            warnings.append(UNPINNED_CAVEAT)
        prev, next_seq = GENESIS_HASH, 0
        heads = []
        by_period: dict[int, list[npt.NDArray[np.void]]] = {}
        for position, row in enumerate(store.block_rows()):
            head, rec = _verify_block(store, position, row, prev, next_seq, keys)
            prev, next_seq = head.hash, head.first_seq + head.n_records
            heads.append(head)
            by_period.setdefault(head.period, []).append(rec)
        stray = store.stray_record_rows(len(heads))
        if stray:
            h, unit = stray[0]
            raise _bad(f"records of unit {unit} stored for block {h}, which the ledger lacks")
        periods = _verify_settlements(store, meta, keys.road_operator, by_period)
        unsettled = sorted(set(by_period) - set(periods))
        tz = str(meta.get("timezone", "UTC"))
        anchors, chain_name, tail = _verify_anchors(
            folder, store, meta, heads, periods, chain_url, keys, warnings
        )
    except (SQLAlchemyError, store.engine.dialect.loaded_dbapi.Error) as err:
        cause = getattr(err, "orig", None) or err
        raise _bad(f"the ledger database cannot be read (damaged or altered): {cause}") from None
    except (KeyError, ValueError, TypeError) as err:
        raise _bad(f"the ledger's settings (meta table) are damaged or altered: {err!r}") from None
    finally:
        store.close()
    unanchored_blocks, unanchored_settlements = tail
    if unanchored_blocks or unsettled or unanchored_settlements:
        parts = []
        if unanchored_blocks:
            first = len(heads) - unanchored_blocks
            parts.append(f"blocks {first}..{len(heads) - 1} not anchored")
        if unsettled:
            names = ", ".join(_period_name(p, tz) for p in unsettled[:3])
            parts.append(f"{len(unsettled)} period(s) not settled ({names})")
        if unanchored_settlements:
            parts.append(f"{unanchored_settlements} settlement(s) not anchored")
        warnings.append(
            "incomplete tail: " + "; ".join(parts) + " (a writer stopped before finishing "
            "them, or is still running); it is consistent, but the chain does not protect it"
        )
    return VerifyReport(
        next_seq, len(heads), len(periods), anchors, chain_name, time.perf_counter() - wall0,
        unanchored_blocks, len(unsettled), unanchored_settlements,
        "pinned" if keys.pinned else "ledger", tuple(warnings),
    )  # fmt: skip


def _verify_settlements(
    store: LedgerStore,
    meta: dict[str, Any],
    producer: bytes,
    by_period: dict[int, list[npt.NDArray[np.void]]],
) -> dict[int, bytes]:
    rules = SettlementSpec.model_validate(meta["rules"])
    prices, user_prices = price_tables(meta)
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
            period, rec, prices.at(rec["end_ms"]), user_prices.at(rec["end_ms"]),
            meta["tariffs"], rules, meta["reference_price_per_kwh"], meta["currency"],
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
    meta: dict[str, Any],
    heads: list[BlockHeader],
    periods: dict[int, bytes],
    chain_url: str | None,
    keys: Trust,
    warnings: list[str],
) -> tuple[int, str, tuple[int, int]]:
    """Compare the ledger with its anchor contract; return (roots checked, chain name,
    (blocks not anchored, settlements not anchored))."""
    tz = str(meta.get("timezone", "UTC"))
    client = open_chain(folder, store, chain_url, keys)
    if client is None:
        if store.anchors():
            raise _bad("the ledger lists anchored roots but names no chain (chain record removed)")
        if heads or periods:
            warnings.append("nothing of the ledger is anchored on any chain yet")
        return 0, "none", (len(heads), len(periods))
    if client.kind == "in-process":
        warnings.append(IN_PROCESS_CAVEAT)
    elif chain_url is None:
        warnings.append(
            f"anchors were read from the node the ledger itself names ({client.url}); give "
            "--chain-url to read them from a node of your choosing"
        )
    on = client.counts()
    account = keys.chain_account or (meta.get("chain") or {}).get("account")
    if account is not None and on.owner.lower() != account.lower():
        raise LedgerForged(
            f"the anchor contract is owned by {on.owner}, not by the anchoring account {account}"
        )
    if on.signers != keys.digest():
        whose = "pinned" if keys.pinned else "ledger's"
        raise LedgerForged(
            f"the anchor contract publishes other signer keys than the {whose} "
            f"(0x{on.signers.hex()[:16]}… against 0x{keys.digest().hex()[:16]}…): re-signed "
            "with other keys"
        )
    if on.blocks > len(heads):
        raise LedgerRolledBack(
            f"the chain holds {on.blocks} block roots, the ledger only {len(heads)} blocks: "
            f"blocks {len(heads)}..{on.blocks - 1} are missing (rolled back or deleted)"
        )
    checked = 0
    for head in heads[: on.blocks]:
        root = client.root(KIND_BLOCK, head.height)
        if root != head.hash:
            raise _bad(
                f"block {head.height}: root anchored on chain (0x{root.hex()[:16]}…) is "
                f"different from the block's (0x{head.hash.hex()[:16]}…)"
            )
        checked += 1
    matched = 0
    for period, root in periods.items():
        on_chain = client.root(KIND_SETTLEMENT, period)
        if on_chain == bytes(32):
            continue
        if on_chain != root:
            raise _bad(f"settlement of period {_period_name(period, tz)}: root different on chain")
        matched += 1
    if on.settlements > matched:
        if on.last_period not in periods:
            raise LedgerRolledBack(
                f"settlement of period {_period_name(on.last_period, tz)}, the latest anchored "
                "on chain, is missing from the ledger (rolled back or deleted)"
            )
        raise LedgerRolledBack(
            f"the chain holds {on.settlements} settlement roots, the ledger {matched} of them: "
            f"{on.settlements - matched} settled period(s) missing (deleted)"
        )
    checked += matched
    return (
        checked,
        f"{client.kind} (chain id {client.chain_id})",
        (len(heads) - on.blocks, len(periods) - matched),
    )
