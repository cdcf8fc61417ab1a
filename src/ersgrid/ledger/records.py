"""Metering records, in a fixed binary layout: one vehicle's pass over one power unit, or one
planning step of a connection's meter.

A record is 72 bytes, big-endian, in the order of :data:`RECORD_DTYPE`. The bytes are what
is hashed and signed, so the layout is the format: never change a field without a new
``version``. Energies are integers in milliwatt-hours (1 kWh = 1,000,000 mWh) so sums are
exact; money computed from them is exact to a millionth of the currency unit.

Direction and signs follow the project's convention: a charge record has positive battery
and grid energy (into the battery, drawn from the grid); a V2G record has both negative
(out of the battery, returned to the grid). A connection's meter (a unit after the power
units) writes one record per planning step and kind: its grid import (positive grid energy),
its export (negative grid energy) and what its local plants delivered (positive, in the
battery field's place: zero), each with an all-zero pseudonym (the meter is the road
operator's, not a vehicle's).
"""

from __future__ import annotations

import hashlib
from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "MWH_PER_KWH",
    "RECORD_DTYPE",
    "RECORD_SIZE",
    "RECORD_VERSION",
    "Direction",
    "as_pseudonyms",
    "decode_records",
    "encode_records",
    "leaf_hashes",
    "leaf_hashes_raw",
    "record_dict",
]

RECORD_VERSION = 1
MWH_PER_KWH = 1_000_000
"""Milliwatt-hours per kilowatt-hour: records hold energy as integer mWh."""


class Direction(IntEnum):
    """Direction of the energy of a record."""

    charge = 0
    """Grid → vehicle: battery and grid energy positive."""
    v2g = 1
    """Vehicle → grid: battery and grid energy negative."""
    grid_import = 2
    """A connection's meter: energy imported from the grid in a step (positive)."""
    grid_export = 3
    """A connection's meter: energy exported to the grid in a step (negative)."""
    renewable = 4
    """A connection's local plants: energy delivered (not curtailed) in a step (positive)."""

    @classmethod
    def vehicle(cls) -> tuple[int, int]:
        """The directions of vehicle records."""
        return (int(cls.charge), int(cls.v2g))


RECORD_DTYPE = np.dtype(
    [
        ("version", ">u1"),
        ("seq", ">u8"),  # position in the ledger, 0, 1, 2, ...
        ("unit", ">u4"),  # power unit (segment) index
        ("pseudonym", "V16"),  # rotating pseudonym for this period (raw bytes, not a string)
        ("period", ">i8"),  # start of the settlement period [unix s]
        ("start_ms", ">i8"),  # start of the pass [unix ms]
        ("end_ms", ">i8"),  # end of the pass, when metered [unix ms]
        ("battery_mwh", ">i8"),  # energy into the battery [mWh], negative for V2G
        ("grid_mwh", ">i8"),  # energy from the grid [mWh], negative for V2G
        ("direction", ">u1"),  # Direction
        ("tariff", ">u2"),  # index into the ledger's tariff table
    ]
)
RECORD_SIZE = RECORD_DTYPE.itemsize
assert RECORD_SIZE == 72

LEAF_PREFIX = b"\x00"


def as_pseudonyms(names: list[bytes]) -> npt.NDArray[np.void]:
    """16-byte pseudonyms as an array for the ``pseudonym`` field (keeps trailing zero bytes)."""
    return np.frombuffer(b"".join(names), dtype="V16") if names else np.zeros(0, dtype="V16")


def encode_records(records: npt.NDArray[np.void]) -> list[bytes]:
    """The canonical bytes of each record (72 bytes each)."""
    raw = np.ascontiguousarray(records, dtype=RECORD_DTYPE).tobytes()
    return [raw[i : i + RECORD_SIZE] for i in range(0, len(raw), RECORD_SIZE)]


def decode_records(bodies: list[bytes] | bytes) -> npt.NDArray[np.void]:
    """Records from their canonical bytes (a list of bodies or their concatenation)."""
    raw = bodies if isinstance(bodies, bytes) else b"".join(bodies)
    if len(raw) % RECORD_SIZE:
        raise ValueError(f"record bytes of length {len(raw)} are not a multiple of {RECORD_SIZE}")
    return np.frombuffer(raw, dtype=RECORD_DTYPE)


def leaf_hashes(bodies: list[bytes]) -> list[bytes]:
    """SHA-256 leaf hash of each record body (domain-separated from inner nodes)."""
    sha = hashlib.sha256
    return [sha(LEAF_PREFIX + b).digest() for b in bodies]


def leaf_hashes_raw(raw: bytes) -> list[bytes]:
    """SHA-256 leaf hash of each record in ``raw`` (concatenated canonical bytes, in order).

    The same leaves as :func:`leaf_hashes` of the split bodies: each record is laid out once
    behind its prefix byte, so hashing takes one slice per record and no concatenation.
    """
    if len(raw) % RECORD_SIZE:
        raise ValueError(f"record bytes of length {len(raw)} are not a multiple of {RECORD_SIZE}")
    n = len(raw) // RECORD_SIZE
    step = RECORD_SIZE + 1
    buf = np.empty((n, step), dtype=np.uint8)
    buf[:, 0] = LEAF_PREFIX[0]
    buf[:, 1:] = np.frombuffer(raw, dtype=np.uint8).reshape(n, RECORD_SIZE)
    flat = buf.tobytes()
    sha = hashlib.sha256
    return [sha(flat[i : i + step]).digest() for i in range(0, n * step, step)]


def record_dict(rec: np.void) -> dict[str, object]:
    """A record as a plain dict with energies in kWh (for proofs and messages)."""
    return {
        "seq": int(rec["seq"]),
        "unit": int(rec["unit"]),
        "pseudonym": bytes(rec["pseudonym"]).hex(),
        "period": int(rec["period"]),
        "start_ms": int(rec["start_ms"]),
        "end_ms": int(rec["end_ms"]),
        "battery_kwh": int(rec["battery_mwh"]) / MWH_PER_KWH,
        "grid_kwh": int(rec["grid_mwh"]) / MWH_PER_KWH,
        "direction": Direction(int(rec["direction"])).name,
        "tariff": int(rec["tariff"]),
    }
