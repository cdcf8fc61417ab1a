"""Blocks: one period's records (or part of it), grouped by power unit, signed and hash-linked.

Each power unit signs an *attestation* of its records in the block, as a meter signs an
interval: the Merkle root over its records' leaves, their count, first sequence number and
period. The block's Merkle root is the root over the attestations' leaves, so it covers
every record. The block header carries that root, the previous block's hash, the period, a
timestamp and the signer (the road operator's public key), and the road operator signs the
header's hash. The header hash is what gets anchored on the chain.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ersgrid.ledger.keys import KeyStore, public_bytes
from ersgrid.ledger.merkle import merkle_root
from ersgrid.ledger.records import RECORD_DTYPE, RECORD_SIZE, leaf_hashes_raw

__all__ = [
    "ATTESTATION",
    "BLOCK_DOMAIN",
    "GENESIS_HASH",
    "HEADER",
    "METER_DOMAIN",
    "Attestation",
    "Block",
    "BlockHeader",
    "attestation_leaf",
    "build_block",
]

HEADER = struct.Struct(">BQqQII32s32sq32s")
"""version, height, period [unix s], first_seq, n_records, n_units, root, prev_hash,
timestamp [unix ms], signer public key."""
ATTESTATION = struct.Struct(">IqQQI32s")
"""unit, period [unix s], height, first_seq, count, unit_root."""
BLOCK_VERSION = 1
GENESIS_HASH = bytes(32)
METER_DOMAIN = b"ersgrid-meter-v1|"
BLOCK_DOMAIN = b"ersgrid-block-v1|"
ATTESTATION_PREFIX = b"\x02"


@dataclass(frozen=True)
class BlockHeader:
    """Decoded block header (see :data:`HEADER`)."""

    version: int
    height: int
    period: int
    first_seq: int
    n_records: int
    n_units: int
    root: bytes
    prev_hash: bytes
    timestamp_ms: int
    signer: bytes

    def encode(self) -> bytes:
        """Canonical bytes of the header."""
        return HEADER.pack(
            self.version, self.height, self.period, self.first_seq, self.n_records,
            self.n_units, self.root, self.prev_hash, self.timestamp_ms, self.signer,
        )  # fmt: skip

    @classmethod
    def decode(cls, raw: bytes) -> BlockHeader:
        """Header from its canonical bytes (``ValueError`` if malformed)."""
        if len(raw) != HEADER.size:
            raise ValueError(f"a header has {HEADER.size} bytes, got {len(raw)}")
        return cls(*HEADER.unpack(raw))

    @property
    def hash(self) -> bytes:
        """SHA-256 of the canonical header: the block's id, linked and anchored."""
        return hashlib.sha256(self.encode()).digest()


@dataclass(frozen=True)
class Attestation:
    """One power unit's signed statement of its records in a block."""

    unit: int
    period: int
    height: int
    first_seq: int
    count: int
    unit_root: bytes
    signature: bytes

    def body(self) -> bytes:
        """Canonical bytes that the unit signs."""
        return ATTESTATION.pack(
            self.unit, self.period, self.height, self.first_seq, self.count, self.unit_root
        )

    @classmethod
    def decode(cls, body: bytes, signature: bytes) -> Attestation:
        """Attestation from its canonical bytes and signature."""
        unit, period, height, first_seq, count, root = ATTESTATION.unpack(body)
        return cls(unit, period, height, first_seq, count, root, signature)


def attestation_leaf(body: bytes) -> bytes:
    """Leaf hash of an attestation in the block's tree."""
    return hashlib.sha256(ATTESTATION_PREFIX + body).digest()


@dataclass
class Block:
    """A block ready to store: header, signatures and its records with their leaves."""

    header: BlockHeader
    signature: bytes
    attestations: list[Attestation]
    records: npt.NDArray[np.void]
    raw: bytes
    """The records' canonical bytes, concatenated in seq order."""
    leaves: list[bytes]

    def unit_bytes(self, att: Attestation) -> bytes:
        """The canonical bytes of the records that attestation ``att`` signs."""
        a = (att.first_seq - self.header.first_seq) * RECORD_SIZE
        return self.raw[a : a + att.count * RECORD_SIZE]

    def unit_leaves(self, att: Attestation) -> bytes:
        """The leaf hashes of those records, concatenated."""
        a = att.first_seq - self.header.first_seq
        return b"".join(self.leaves[a : a + att.count])

    @property
    def hash(self) -> bytes:
        """The block's header hash."""
        return self.header.hash


def build_block(
    records: npt.NDArray[np.void],
    height: int,
    prev_hash: bytes,
    keys: KeyStore,
    timestamp_ms: int,
) -> Block:
    """Sign and hash one block of records.

    Parameters
    ----------
    records : structured ndarray of RECORD_DTYPE
        The block's records: one period, sorted by unit, ``seq`` consecutive.
    height : int
        Position of the block in the ledger (0 for the first).
    prev_hash : bytes
        Hash of the previous block's header (:data:`GENESIS_HASH` for the first).
    keys : KeyStore
        Holds every unit's key and the road operator's key.
    timestamp_ms : int [unix ms]
        When the block is made.
    """
    if len(records) == 0:
        raise ValueError("a block needs at least one record")
    period = int(records["period"][0])
    first_seq = int(records["seq"][0])
    raw = np.ascontiguousarray(records, dtype=RECORD_DTYPE).tobytes()
    leaves = leaf_hashes_raw(raw)
    units = np.asarray(records["unit"], dtype=np.int64)
    cuts = np.flatnonzero(np.diff(units)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(units)]))
    attestations = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        unit = int(units[a])
        unsigned = Attestation(
            unit, period, height, first_seq + a, b - a, merkle_root(leaves[a:b]), b""
        )
        signature = keys.unit_key(unit).sign(METER_DOMAIN + unsigned.body())
        attestations.append(
            Attestation(unit, period, height, first_seq + a, b - a, unsigned.unit_root, signature)
        )
    root = merkle_root([attestation_leaf(a.body()) for a in attestations])
    producer = keys.party_key("road_operator")
    header = BlockHeader(
        BLOCK_VERSION, height, period, first_seq, len(records), len(attestations), root,
        prev_hash, int(timestamp_ms), public_bytes(producer),
    )  # fmt: skip
    signature = producer.sign(BLOCK_DOMAIN + header.hash)
    return Block(header, signature, attestations, records, raw, leaves)
