"""Signing keys of the power units and parties, and the owners' pseudonym keys.

Keys live in a folder of their own (``keys/`` beside the ledger, mode 0700, each file 0600),
never in the ledger: the ledger holds only public keys. Each power unit signs its own
metering with an Ed25519 key; the road operator signs blocks and settlements with its party
key; the anchoring account (secp256k1) sends transactions to the chain. Vehicle pseudonyms
are keyed hashes: the payment provider's secret and the run id give each owner a key, and
the owner's key and the period give the pseudonym (see :func:`pseudonym`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ersgrid.errors import LedgerError

__all__ = [
    "PSEUDONYM_BYTES",
    "KeyStore",
    "owner_key",
    "pseudonym",
    "public_bytes",
    "verify_signature",
]

PSEUDONYM_BYTES = 16


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    """Raw 32-byte public key of ``key``."""
    return key.public_key().public_bytes_raw()


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def owner_key(provider_secret: bytes, run_id: str, vehicle_id: int) -> bytes:
    """The pseudonym key of one vehicle's owner for one run (HMAC-SHA256 derivation)."""
    msg = f"ersgrid-owner|{run_id}|{int(vehicle_id)}".encode()
    return hmac.new(provider_secret, msg, hashlib.sha256).digest()


def pseudonym(key: bytes, period_s: int) -> bytes:
    """The vehicle's 16-byte pseudonym in the period starting at ``period_s`` [unix s]."""
    return hmac.new(key, f"ersgrid-pseudonym|{int(period_s)}".encode(), hashlib.sha256).digest()[
        :PSEUDONYM_BYTES
    ]


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data.hex().encode() + b"\n")
    finally:
        os.close(fd)


def _read_secret(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise LedgerError(
                f"key file {str(path)!r} is readable by others (mode {mode:o}); run chmod 600 on it"
            )
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        raise LedgerError(
            f"key file {str(path)!r} is missing; give the keys folder the ledger was written with"
        ) from None
    except ValueError:
        raise LedgerError(f"key file {str(path)!r} does not hold a hex key") from None


class KeyStore:
    """The keys folder: per-unit and per-party Ed25519 keys, the provider secret, the chain key.

    Parameters
    ----------
    folder : Path
        Created with mode 0700 by :meth:`create`.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._cache: dict[str, Ed25519PrivateKey] = {}

    @classmethod
    def create(cls, folder: Path, n_units: int, roles: tuple[str, ...]) -> KeyStore:
        """Create a new keys folder with a key per unit and per role; refuse to overwrite."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise LedgerError(
                f"keys folder {str(folder)!r} already holds keys; remove it or use another folder"
            )
        (folder / "units").mkdir(parents=True, exist_ok=True)
        (folder / "parties").mkdir(exist_ok=True)
        for sub in (folder, folder / "units", folder / "parties"):
            os.chmod(sub, 0o700)
        for u in range(n_units):
            _write_secret(folder / "units" / f"{u}.key", secrets.token_bytes(32))
        for role in roles:
            _write_secret(folder / "parties" / f"{role}.key", secrets.token_bytes(32))
        _write_secret(folder / "payment-provider.key", secrets.token_bytes(32))
        _write_secret(folder / "chain-account.key", secrets.token_bytes(32))
        return cls(folder)

    def _ed25519(self, rel: str) -> Ed25519PrivateKey:
        key = self._cache.get(rel)
        if key is None:
            key = Ed25519PrivateKey.from_private_bytes(_read_secret(self.folder / rel))
            self._cache[rel] = key
        return key

    def unit_key(self, unit: int) -> Ed25519PrivateKey:
        """Signing key of power unit ``unit``."""
        return self._ed25519(f"units/{int(unit)}.key")

    def party_key(self, role: str) -> Ed25519PrivateKey:
        """Signing key of the party with ``role`` (e.g. ``road_operator``)."""
        return self._ed25519(f"parties/{role}.key")

    def provider_secret(self) -> bytes:
        """The payment provider's secret from which owners' pseudonym keys derive."""
        return _read_secret(self.folder / "payment-provider.key")

    def chain_account(self) -> bytes:
        """Private key (secp256k1, 32 bytes) of the account that sends anchoring transactions."""
        return _read_secret(self.folder / "chain-account.key")
