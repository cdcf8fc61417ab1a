"""Inclusion proofs for one vehicle and period, and checking them without the ledger.

A proof holds the vehicle's records (pseudonymous), for each the Merkle path to the root its
power unit signed, the unit's signed attestation, the path from that attestation to the
block's root and the signed block header; then the vehicle's statement with its path to the
period's signed settlement root; and where these roots were anchored. Nobody else's records
are in it: siblings on a Merkle path are hashes only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ersgrid.errors import LedgerError, LedgerTampered
from ersgrid.ledger.blocks import (
    BLOCK_DOMAIN,
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
from ersgrid.ledger.keys import KeyStore, owner_key, pseudonym, verify_signature
from ersgrid.ledger.merkle import merkle_proof, root_from_proof
from ersgrid.ledger.records import (
    LEAF_PREFIX,
    RECORD_DTYPE,
    RECORD_SIZE,
    decode_records,
    record_dict,
)
from ersgrid.ledger.settlement import statement_leaf
from ersgrid.ledger.storage import LedgerStore, database_url
from ersgrid.ledger.trust import Trust
from ersgrid.ledger.writer import settlement_message

__all__ = ["PROOF_FORMAT", "check_proof", "make_proof", "parse_period"]

PROOF_FORMAT = "ersgrid-proof-1"


def parse_period(text: str, timezone: str, period: str) -> int:
    """Start of the period named by ``text`` [unix s]: local ``YYYY-MM-DDTHH`` (or with
    ``:MM``) for hourly periods, ``YYYY-MM-DD`` for daily ones, or unix seconds."""
    if text.isdigit():
        return int(text)
    try:
        stamp = pd.Timestamp(text + (":00" if len(text) == 13 else ""))
    except ValueError:
        raise LedgerError(
            f"--period {text!r}: expected a local time like 2035-04-02T09 or a date"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone)
    stamp = stamp.normalize() if period == "day" else stamp.floor("h")
    return int(stamp.value // 1_000_000_000)


def _path(path: list[tuple[bool, bytes]]) -> list[list[Any]]:
    return [[left, sib.hex()] for left, sib in path]


def _unpath(path: list[list[Any]]) -> list[tuple[bool, bytes]]:
    return [(bool(left), bytes.fromhex(sib)) for left, sib in path]


def _matches(raw: bytes, name: bytes) -> list[int]:
    """Indices of the records in ``raw`` (concatenated canonical bytes) of pseudonym ``name``."""
    at = RECORD_DTYPE.fields["pseudonym"][1]  # type: ignore[index]
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_SIZE)
    hit = np.all(rows[:, at : at + len(name)] == np.frombuffer(name, dtype=np.uint8), axis=1)
    return [int(i) for i in np.flatnonzero(hit)]


def make_proof(
    folder: Path, vehicle_id: int, period_text: str, db_url: str | None = None
) -> dict[str, Any]:
    """Inclusion proof of one vehicle's records and statement in one period.

    Needs the ledger and its ``keys/`` folder (the payment provider's secret derives the
    vehicle's pseudonym).
    """
    folder = Path(folder)
    store = LedgerStore(database_url(folder, db_url))
    try:
        meta = store.meta()
        period = parse_period(period_text, meta["timezone"], meta["period"])
        key = owner_key(KeyStore(folder / "keys").provider_secret(), meta["run_id"], vehicle_id)
        name = pseudonym(key, period)
        blocks = {h: (hdr, sig) for h, hdr, _, sig in store.block_rows()}
        anchors = store.anchors()
        records = []
        for height in store.heights_of_period(period):
            atts = store.attestation_rows(height)
            att_leaves = [attestation_leaf(b) for _, b, _ in atts]
            position = {unit: i for i, (unit, _, _) in enumerate(atts)}
            for unit, raw, leaves in store.record_rows(height):
                hits = _matches(raw, name)
                if not hits:
                    continue
                i = position[unit]
                _, att_body, att_sig = atts[i]
                unit_leaves = [leaves[k : k + 32] for k in range(0, len(leaves), 32)]
                for k in hits:
                    body = raw[k * RECORD_SIZE : (k + 1) * RECORD_SIZE]
                    records.append(
                        {
                            "record": body.hex(), "values": record_dict(decode_records(body)[0]),
                            "path": _path(merkle_proof(unit_leaves, k)),
                            "attestation": att_body.hex(), "attestation_signature": att_sig.hex(),
                            "unit_public_key": meta["units"][unit]["public_key"],
                            "unit_id": meta["units"][unit]["id"],
                            "attestation_path": _path(merkle_proof(att_leaves, i)),
                            "block_header": blocks[height][0].hex(),
                            "block_signature": blocks[height][1].hex(),
                            "anchor_tx": anchors[(KIND_BLOCK, height)][1].hex()
                            if (KIND_BLOCK, height) in anchors else None,
                        }
                    )  # fmt: skip
        if not records:
            raise LedgerError(
                f"vehicle {vehicle_id} has no records in period {period_text} ({period})"
            )
        records.sort(key=lambda r: int(r["values"]["seq"]))
        party = f"vehicle:{name.hex()}"
        statements = store.statement_rows(period)
        parties = [p for p, _, _ in statements]
        if party not in parties:
            raise LedgerError(f"period {period_text} is not settled yet: no statement to prove")
        idx = parties.index(party)
        settlement = {p: (r, s) for p, _, r, s in store.settlement_rows()}[period]
        return {
            "format": PROOF_FORMAT, "ledger": meta.get("name", ""), "run_id": meta["run_id"],
            "period": period, "period_kind": meta["period"], "pseudonym": name.hex(),
            "road_operator_public_key": meta["parties"]["road_operator"],
            "records": records,
            "statement": {
                "body": statements[idx][1],
                "path": _path(merkle_proof([lf for _, _, lf in statements], idx)),
                "settlement_root": settlement[0].hex(), "settlement_signature": settlement[1].hex(),
                "anchor_tx": anchors[(KIND_SETTLEMENT, period)][1].hex()
                if (KIND_SETTLEMENT, period) in anchors else None,
            },
            "chain": meta.get("chain"),
        }  # fmt: skip
    finally:
        store.close()


def check_proof(
    proof: dict[str, Any], chain_url: str | None = None, trust: Trust | Path | None = None
) -> dict[str, Any]:
    """Check a proof on its own; raise LedgerTampered naming the first part that fails.

    With ``chain_url`` the block and settlement roots are also read from the anchor contract.
    With ``trust`` (a trust file kept outside the ledger) the signatures must be by the pinned
    keys, and the anchor contract is the pinned anchoring account's; without it the checker
    takes the keys the proof carries on trust.

    Returns
    -------
    dict
        ``records``, ``battery_kwh``, ``total`` (statement, currency), ``anchors_checked``
        and ``keys`` (``pinned`` or ``proof``).
    """
    import hashlib

    from ersgrid.ledger.verify import LedgerForged

    if proof.get("format") != PROOF_FORMAT:
        raise LedgerError(f"not an ersgrid proof (format {proof.get('format')!r})")
    if isinstance(trust, Path | str):
        trust = Trust.load(Path(trust))
    producer = bytes.fromhex(proof["road_operator_public_key"])
    name = bytes.fromhex(proof["pseudonym"])
    period = int(proof["period"])
    pinned_units: list[bytes] = []
    if trust is not None:
        if proof.get("run_id") not in (None, trust.run_id):
            raise LedgerForged(f"the proof is of run {proof.get('run_id')}, not the pinned one")
        if producer != trust.road_operator:
            raise LedgerForged(
                "the proof's road operator key is not the pinned one: signed with other keys"
            )
        pinned_units = trust.unit_keys()

    heads = {}
    batt = 0
    for n, item in enumerate(proof["records"]):
        body = bytes.fromhex(item["record"])
        rec = decode_records(body)[0]
        where = f"record {n} (seq {int(rec['seq'])})"
        if bytes(rec["pseudonym"]) != name or int(rec["period"]) != period:
            raise LedgerTampered(f"{where}: belongs to another pseudonym or period")
        att = Attestation.decode(
            bytes.fromhex(item["attestation"]), bytes.fromhex(item["attestation_signature"])
        )
        leaf = hashlib.sha256(LEAF_PREFIX + body).digest()
        if root_from_proof(leaf, _unpath(item["path"])) != att.unit_root:
            raise LedgerTampered(f"{where}: not included under the root its power unit signed")
        unit_key = bytes.fromhex(item["unit_public_key"])
        if trust is not None and unit_key not in pinned_units[att.unit : att.unit + 1]:
            raise LedgerForged(f"{where}: power unit {att.unit}'s key is not the pinned one")
        if not verify_signature(unit_key, att.signature, METER_DOMAIN + att.body()):
            raise LedgerTampered(f"{where}: bad signature of power unit {att.unit}")
        head = BlockHeader.decode(bytes.fromhex(item["block_header"]))
        if root_from_proof(attestation_leaf(att.body()), _unpath(item["attestation_path"])) != (
            head.root
        ):
            raise LedgerTampered(f"{where}: unit attestation not included in block {head.height}")
        if head.signer != producer or not verify_signature(
            producer, bytes.fromhex(item["block_signature"]), BLOCK_DOMAIN + head.hash
        ):
            raise LedgerTampered(f"{where}: bad signature on block {head.height}")
        heads[head.height] = head
        batt += int(rec["battery_mwh"]) if int(rec["direction"]) == 0 else 0
    st = proof["statement"]
    root = bytes.fromhex(st["settlement_root"])
    if root_from_proof(statement_leaf(st["body"]), _unpath(st["path"])) != root:
        raise LedgerTampered("statement: not included under the period's settlement root")
    if not verify_signature(
        producer, bytes.fromhex(st["settlement_signature"]), settlement_message(period, root)
    ):
        raise LedgerTampered("statement: bad signature on the settlement root")
    body = json.loads(st["body"])
    if body["party"] != f"vehicle:{name.hex()}" or int(body["period"]) != period:
        raise LedgerTampered("statement: belongs to another pseudonym or period")
    charged = sum(x["energy_mwh"] for x in body["lines"] if x["item"] == "charging")
    if charged != batt:
        raise LedgerTampered(
            f"statement: bills {charged} mWh charged but the records hold {batt} mWh"
        )
    checked = 0
    if chain_url is not None:
        chain = proof.get("chain") or {}
        if not chain.get("contract"):
            raise LedgerError("the proof names no anchor contract")
        address = chain["contract"]
        if trust is not None and trust.chain_account:
            address = contract_address(trust.chain_account)
            if chain["contract"] != address:
                raise LedgerForged(
                    f"the proof names anchor contract {chain['contract']}, the pinned account's "
                    f"is {address}"
                )
        client = ChainClient.connect(chain_url, bytes(31) + b"\x01")
        client.attach(compile_anchor_contract(chain["evm_version"]), address)
        if trust is not None and client.counts().signers != trust.digest():
            raise LedgerForged("the anchor contract publishes other signer keys than the pinned")
        for h, head in sorted(heads.items()):
            if client.root(KIND_BLOCK, h) != head.hash:
                raise LedgerTampered(f"block {h}: root not anchored on chain or different there")
            checked += 1
        if client.root(KIND_SETTLEMENT, period) != root:
            raise LedgerTampered(f"settlement of period {period}: root not anchored or different")
        checked += 1
    return {
        "records": len(proof["records"]),
        "battery_kwh": batt / 1e6,
        "total": float(np.int64(body["total_micro"])) / 1e6,
        "anchors_checked": checked,
        "keys": "pinned" if trust is not None else "proof",
    }
