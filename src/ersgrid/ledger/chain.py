"""Anchoring on an EVM chain: the Vyper contract, an in-process chain and JSON-RPC nodes.

The contract (``anchor.vy``, shipped in the package) is compiled by the ``vyper`` package for
a chosen EVM version (``paris`` by default: no PUSH0, so it deploys on chains that stop
before Shanghai). The build is cached in the user's cache folder (``$ERSGRID_CACHE_DIR``,
else ``$XDG_CACHE_HOME/ersgrid``, else ``~/.cache/ersgrid``; under ``ledger/``) keyed by the
source's hash, the vyper version and the EVM version, and checked when loaded: a run
compiles nothing once a verified build is there. Anchors go out in batches of up to 256
roots per transaction; their ``Anchored`` events are decoded from the receipts into our own
index, so nothing scans the chain's logs (except :meth:`ChainClient.recover` after a crash).

The contract is deployed by the ledger's anchoring account as its first transaction on a
chain (nonce 0), so its address follows from that account alone
(:func:`contract_address`); it keeps its owner, a digest of the ledger's signer keys, and
how many block and settlement roots it holds and the latest settled period, so a verifier
sees what the ledger should hold beyond its own tip.

The in-process chain (``eth-tester`` on py-evm) lives only as long as the process. Every raw
transaction sent to it is kept in the ledger, so :meth:`ChainClient.in_process` can rebuild the
same contract state later for verification by replaying them on a fresh chain.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from ersgrid.errors import LedgerError

__all__ = [
    "DEFAULT_EVM_VERSION",
    "KIND_BLOCK",
    "KIND_SETTLEMENT",
    "AnchorItem",
    "ChainClient",
    "ChainCounts",
    "artifact_cache_dir",
    "compile_anchor_contract",
    "contract_address",
]

KIND_BLOCK = 0
KIND_SETTLEMENT = 1
MAX_BATCH = 256
DEFAULT_EVM_VERSION = "paris"
ARTIFACT_FORMAT = 2
_CACHE_ENV = "ERSGRID_CACHE_DIR"  # the same convention as the forecast models' cache
_GAS_BASE = 90_000
_GAS_PER_ITEM = 52_000
_DEPLOY_GAS = 2_000_000
_FUNDING_WEI = 10**21
_GAS_PRICE_WEI = 2 * 10**9


@dataclass(frozen=True)
class AnchorItem:
    """One root to anchor: ``kind`` (0 block, 1 settlement), its key and the 32-byte root."""

    kind: int
    key: int
    root: bytes


@dataclass(frozen=True)
class ChainCounts:
    """What the anchor contract holds: block roots (heights 0 .. blocks-1), settlement roots,
    the latest settled period anchored [unix s] (0 before the first), owner and signer digest.
    """

    blocks: int
    settlements: int
    last_period: int
    owner: str
    signers: bytes


def artifact_cache_dir() -> Path:
    """Folder of the cached contract builds: ``<user cache>/ledger``."""
    env = os.environ.get(_CACHE_ENV)
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return (base if env else base / "ersgrid") / "ledger"


def _artifact_digest(data: dict[str, Any]) -> str:
    body = json.dumps(
        [data["abi"], data["bytecode"], data["bytecode_runtime"]], sort_keys=True,
        separators=(",", ":"),
    )  # fmt: skip
    return hashlib.sha256(body.encode()).hexdigest()


def _load_cached(
    path: Path, source_sha: str, vyper: str, evm_version: str
) -> dict[str, Any] | None:
    """The cached build at ``path`` if it is whole and of this source, vyper and EVM version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ok = (
            data.get("format") == ARTIFACT_FORMAT
            and data.get("source_sha256") == source_sha
            and data.get("vyper") == vyper
            and data.get("evm_version") == evm_version
            and data.get("artifact_sha256") == _artifact_digest(data)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if ok else None


def compile_anchor_contract(
    evm_version: str = DEFAULT_EVM_VERSION, cache_dir: Path | None = None
) -> dict[str, Any]:
    """ABI, deployment and runtime bytecode of the anchor contract.

    Compiled offline with the ``vyper`` package unless a build of the same source, vyper
    version and EVM version is cached in ``cache_dir`` (default :func:`artifact_cache_dir`)
    and its content still hashes to the digest stored with it; a cache that is missing,
    damaged or stale is rebuilt (and a cache folder that cannot be written is skipped).
    """
    source = resources.files("ersgrid.ledger").joinpath("anchor.vy").read_text(encoding="utf-8")
    source_sha = hashlib.sha256(source.encode()).hexdigest()
    try:
        vyper_version = metadata.version("vyper")
    except metadata.PackageNotFoundError:
        raise LedgerError(
            "anchoring needs the vyper compiler: pip install 'ersgrid[chain]'"
        ) from None
    tag = hashlib.sha256(f"{source_sha}|{vyper_version}|{evm_version}".encode()).hexdigest()[:16]
    folder = artifact_cache_dir() if cache_dir is None else Path(cache_dir)
    path = folder / f"anchor-{tag}.json"
    cached = _load_cached(path, source_sha, vyper_version, evm_version)
    if cached is not None:
        return cached
    from vyper.compiler import compile_code
    from vyper.compiler.settings import Settings

    try:
        out = compile_code(
            source,
            output_formats=["abi", "bytecode", "bytecode_runtime"],
            settings=Settings(evm_version=evm_version),
        )
    except Exception as err:  # vyper raises many kinds; all mean the same to the caller
        raise LedgerError(f"cannot compile anchor.vy for EVM {evm_version!r}: {err}") from None
    data: dict[str, Any] = {
        "format": ARTIFACT_FORMAT, "abi": out["abi"], "bytecode": out["bytecode"],
        "bytecode_runtime": out["bytecode_runtime"], "vyper": vyper_version,
        "evm_version": evm_version, "source_sha256": source_sha,
    }  # fmt: skip
    data["artifact_sha256"] = _artifact_digest(data)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache costs a compile per process, nothing else
    return data


def contract_address(account: str) -> str:
    """Address of the contract that ``account`` deploys as its first transaction (nonce 0)."""
    from eth_utils.address import to_checksum_address
    from eth_utils.crypto import keccak

    raw = bytes.fromhex(account.removeprefix("0x"))
    if len(raw) != 20:
        raise LedgerError(f"{account!r} is not an Ethereum address")
    # RLP of [address, 0]: a list of 22 bytes, a 20-byte string, the empty string for 0
    return str(to_checksum_address(keccak(b"\xd6\x94" + raw + b"\x80")[12:]))


def _to_bytes(code: Any) -> bytes:
    if isinstance(code, str):
        return bytes.fromhex(code.removeprefix("0x"))
    return bytes(code)


class ChainClient:
    """A web3 connection with the account that anchors and the contract it talks to.

    Use :meth:`in_process` or :meth:`connect`, then :meth:`deploy` or :meth:`attach`.
    """

    def __init__(self, w3: Any, account_key: bytes, kind: str, url: str | None) -> None:
        from eth_account import Account

        self.w3 = w3
        self.kind = kind
        self.url = url
        self.account = Account.from_key(account_key)
        self.contract: Any = None
        self.sent: list[bytes] = []
        """Raw transactions sent by this client, in order."""
        self._chain_id: int | None = None

    @classmethod
    def in_process(
        cls, account_key: bytes, replay: list[bytes] | None = None, funded: str | None = None
    ) -> ChainClient:
        """A fresh in-process chain (eth-tester, py-evm) with the account funded.

        Parameters
        ----------
        replay : list of bytes, optional
            Raw transactions to send again first, rebuilding an earlier chain's state.
        funded : str, optional
            Address to fund instead of the account's: the address that signed ``replay``, so
            a verifier can rebuild the chain without that account's key.
        """
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider, Web3

        w3: Any = Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))
        client = cls(w3, account_key, "in-process", None)
        funder = w3.eth.accounts[0]
        tx = w3.eth.send_transaction(
            {
                "from": funder,
                "to": funded or client.account.address,
                "value": _FUNDING_WEI,
                "gas": 21_000,
            }
        )
        w3.eth.wait_for_transaction_receipt(tx)
        for raw in replay or []:
            receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
            if receipt.status != 1:
                raise LedgerError("replaying the in-process chain failed: a transaction reverted")
        return client

    @classmethod
    def connect(cls, url: str, account_key: bytes) -> ChainClient:
        """A JSON-RPC node at ``url`` (http(s)://…); the account must hold funds for gas."""
        from web3 import Web3

        w3: Any = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        try:
            w3.eth.chain_id  # noqa: B018 - a round trip proves the node answers
        except Exception as err:
            raise LedgerError(f"no Ethereum JSON-RPC node answers at {url!r}: {err}") from None
        return cls(w3, account_key, "json-rpc", url)

    def ensure_funds(self) -> None:
        """Make sure the anchoring account can pay for gas.

        On a development node (Hardhat, ganache, anvil, geth --dev) an empty account is funded
        from the node's first unlocked account; elsewhere an empty account is an error that
        names it.
        """
        if self.w3.eth.get_balance(self.account.address) > 0:
            return
        unlocked = self.w3.eth.accounts if self.kind == "json-rpc" else []
        if not unlocked:
            raise LedgerError(
                f"the anchoring account {self.account.address} holds no funds on chain "
                f"{self.chain_id}; send it some for gas (its key is keys/chain-account.key)"
            )
        tx = self.w3.eth.send_transaction(
            {"from": unlocked[0], "to": self.account.address, "value": _FUNDING_WEI // 10}
        )
        self.w3.eth.wait_for_transaction_receipt(tx)

    @property
    def chain_id(self) -> int:
        """Chain id of the connected chain."""
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _send(self, tx: dict[str, Any]) -> Any:
        tx = dict(tx)
        tx.setdefault("chainId", self.chain_id)
        tx.setdefault("nonce", self.w3.eth.get_transaction_count(self.account.address))
        tx.setdefault(
            "gasPrice", _GAS_PRICE_WEI if self.kind == "in-process" else self.w3.eth.gas_price
        )
        signed = self.account.sign_transaction(tx)
        raw = bytes(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(raw))
        self.sent.append(raw)
        if receipt.status != 1:
            raise LedgerError(f"transaction {receipt.transactionHash.hex()} reverted on chain")
        return receipt

    def deploy(self, artifact: dict[str, Any], signers: bytes) -> str:
        """Deploy the anchor contract from this account, publishing the digest of the
        ledger's signer keys; return its address.

        The deployment must be the account's first transaction on this chain, so that the
        contract's address follows from the account (:func:`contract_address`). If it was
        (a writer killed before it recorded the deployment), that contract is attached.
        """
        nonce = self.w3.eth.get_transaction_count(self.account.address)
        if nonce != 0:
            address = contract_address(self.account.address)
            if _to_bytes(self.w3.eth.get_code(address)):
                self.attach(artifact, address)
                if self.counts().signers != signers:
                    raise LedgerError(
                        f"the contract {address} of the anchoring account publishes other "
                        "signer keys than this ledger's"
                    )
                return address
            raise LedgerError(
                f"the anchoring account {self.account.address} already sent {nonce} "
                f"transaction(s) on chain {self.chain_id}; its contract must be its first"
            )
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx = factory.constructor(signers).build_transaction(
            {"from": self.account.address, "gas": _DEPLOY_GAS, "gasPrice": 0, "nonce": 0}
        )
        receipt = self._send({"data": tx["data"], "gas": _DEPLOY_GAS, "value": 0, "nonce": 0})
        address = str(receipt.contractAddress)
        self.attach(artifact, address)
        return address

    def attach(self, artifact: dict[str, Any], address: str) -> None:
        """Talk to the anchor contract at ``address``; its code must be this build's."""
        code = _to_bytes(self.w3.eth.get_code(address))
        if not code:
            raise LedgerError(
                f"no contract at {address} on chain {self.chain_id}; is this the right chain?"
            )
        if code != _to_bytes(artifact["bytecode_runtime"]):
            raise LedgerError(
                f"the contract at {address} on chain {self.chain_id} is not ersgrid's anchor "
                f"contract (built with vyper {artifact['vyper']} for EVM "
                f"{artifact['evm_version']}): its code differs"
            )
        self.contract = self.w3.eth.contract(address=address, abi=artifact["abi"])

    def _contract(self) -> Any:
        if self.contract is None:
            raise LedgerError("no anchor contract: deploy or attach first")
        return self.contract

    def anchor(self, items: list[AnchorItem]) -> list[dict[str, Any]]:
        """Anchor roots in batches; return the index rows decoded from the receipts' events.

        Block roots must come in order of height, continuing the contract's count.
        """
        contract = self._contract()
        rows: list[dict[str, Any]] = []
        for i in range(0, len(items), MAX_BATCH):
            batch = items[i : i + MAX_BATCH]
            call = contract.functions.anchor(
                [it.kind for it in batch], [it.key for it in batch], [it.root for it in batch]
            )
            gas = _GAS_BASE + _GAS_PER_ITEM * len(batch)
            tx = call.build_transaction(
                {"from": self.account.address, "gas": gas, "gasPrice": 0, "nonce": 0}
            )
            receipt = self._send({"to": tx["to"], "data": tx["data"], "gas": gas, "value": 0})
            events = contract.events.Anchored().process_receipt(receipt)
            for ev in events:
                rows.append(
                    {
                        "kind": int(ev.args.kind), "key": int(ev.args.key),
                        "root": bytes(ev.args.root), "tx_hash": bytes(receipt.transactionHash),
                        "chain_block": int(receipt.blockNumber),
                    }
                )  # fmt: skip
            if len(events) != len(batch):
                raise LedgerError(
                    f"anchor transaction logged {len(events)} events for {len(batch)} roots"
                )
        return rows

    def recover(self, kind: int, key: int) -> dict[str, Any] | None:
        """The index row of a root the chain holds but our index lost (a writer killed after
        its transaction was mined), from the contract's ``Anchored`` log; None if none."""
        events = (
            self._contract()
            .events.Anchored()
            .get_logs(argument_filters={"kind": kind, "key": key}, from_block=0)
        )
        for ev in events:
            return {
                "kind": kind, "key": key, "root": bytes(ev.args.root),
                "tx_hash": bytes(ev.transactionHash), "chain_block": int(ev.blockNumber),
            }  # fmt: skip
        return None

    def root(self, kind: int, key: int) -> bytes:
        """The root anchored for (kind, key); 32 zero bytes if none."""
        return bytes(self._contract().functions.roots(kind, key).call())

    def counts(self) -> ChainCounts:
        """How many roots the contract holds, its latest period, owner and signer digest."""
        f = self._contract().functions
        return ChainCounts(
            int(f.blocks().call()), int(f.settlements().call()), int(f.last_period().call()),
            str(f.owner().call()), bytes(f.signers().call()),
        )  # fmt: skip
