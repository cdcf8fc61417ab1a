"""Pinned public keys: the trust file the parties exchange when a ledger is created.

A ledger's own ``meta`` table names the public keys its signatures are checked against, so on
its own it proves only that it is consistent: whoever can rewrite the folder can re-sign
everything with fresh keys. When a ledger is created, :func:`write_trust` writes
``trust.json`` beside (not inside) the database: the road operator's, every party's and
every power unit's public key, the run id and the address of the account that anchors. A
party copies that file then; ``verify --trust FILE`` and ``check-proof --trust FILE`` check
against the copy. The anchor contract publishes the digest of the same keys
(:func:`signers_digest`), and its address follows from the pinned account (it is that
account's first deployment), so with a chain the writer does not control and the trust file
nothing of the ledger's own word is taken.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ersgrid.errors import LedgerError

__all__ = [
    "SIGNERS_DOMAIN",
    "TRUST_FILE",
    "TRUST_FORMAT",
    "Trust",
    "account_address",
    "signers_digest",
    "write_trust",
]

TRUST_FORMAT = "ersgrid-trust-1"
TRUST_FILE = "trust.json"
SIGNERS_DOMAIN = b"ersgrid-signers-v1|"


def signers_digest(parties: dict[str, str], units: list[str]) -> bytes:
    """SHA-256 of the signer keys (hex public keys of each party role and each unit)."""
    body = json.dumps({"parties": parties, "units": units}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(SIGNERS_DOMAIN + body.encode()).digest()


def account_address(private_key: bytes) -> str:
    """Checksummed Ethereum address of a secp256k1 private key."""
    from eth_keys.datatypes import PrivateKey

    return str(PrivateKey(private_key).public_key.to_checksum_address())


@dataclass(frozen=True)
class Trust:
    """The keys a verifier trusts: pinned (from a trust file) or the ledger's own."""

    name: str
    run_id: str
    parties: dict[str, str]
    """Role → hex Ed25519 public key."""
    units: list[str]
    """Hex Ed25519 public key of each power unit, by unit index."""
    chain_account: str | None
    """Address of the anchoring account (None for a ledger's own word, before anchoring)."""
    source: str
    """Where these keys come from, for messages."""
    pinned: bool

    @property
    def road_operator(self) -> bytes:
        """The road operator's public key (signs blocks and settlements)."""
        return bytes.fromhex(self.parties["road_operator"])

    def unit_keys(self) -> list[bytes]:
        """Public key of each power unit, by index."""
        return [bytes.fromhex(k) for k in self.units]

    def digest(self) -> bytes:
        """:func:`signers_digest` of these keys (what the anchor contract publishes)."""
        return signers_digest(self.parties, self.units)

    def document(self) -> dict[str, Any]:
        """The trust file's JSON content."""
        return {
            "format": TRUST_FORMAT, "ledger": self.name, "run_id": self.run_id,
            "parties": self.parties, "units": self.units, "chain_account": self.chain_account,
            "signers_sha256": self.digest().hex(),
        }  # fmt: skip

    @classmethod
    def of_meta(cls, meta: dict[str, Any]) -> Trust:
        """The keys the ledger's own meta names (nothing pinned)."""
        chain = meta.get("chain") or {}
        return cls(
            str(meta.get("name", "")), str(meta["run_id"]), dict(meta["parties"]),
            [str(u["public_key"]) for u in meta["units"]],
            meta.get("chain_account") or chain.get("account"), "the ledger itself", False,
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Trust:
        """Read a trust file; a clear LedgerError if it is not one."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise LedgerError(f"cannot read trust file {str(path)!r}: {err}") from None
        if not isinstance(data, dict) or data.get("format") != TRUST_FORMAT:
            raise LedgerError(
                f"{str(path)!r} is not an ersgrid trust file (format {TRUST_FORMAT!r} expected)"
            )
        try:
            trust = cls(
                str(data["ledger"]), str(data["run_id"]),
                {str(k): str(v) for k, v in data["parties"].items()},
                [str(u) for u in data["units"]], data.get("chain_account"), str(path), True,
            )  # fmt: skip
            for key in [*trust.parties.values(), *trust.units]:
                if len(bytes.fromhex(key)) != 32:
                    raise ValueError(f"public key {key!r} is not 32 bytes")
            _ = trust.road_operator
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise LedgerError(f"trust file {str(path)!r} is incomplete or damaged: {err}") from None
        if data.get("signers_sha256") != trust.digest().hex():
            raise LedgerError(
                f"trust file {str(path)!r} is damaged: its keys do not hash to its signers_sha256"
            )
        return trust


def write_trust(folder: Path, meta: dict[str, Any], chain_account: str) -> Path:
    """Write ``trust.json`` for a new ledger into ``folder`` (refusing to overwrite)."""
    trust = Trust.of_meta(meta | {"chain_account": chain_account})
    path = Path(folder) / TRUST_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise LedgerError(
            f"{str(path)!r} already exists: it pins the keys of another ledger; remove it or "
            "use another folder"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(trust.document(), indent=1) + "\n")
    return path
