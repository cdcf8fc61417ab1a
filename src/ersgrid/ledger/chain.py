"""Anchoring on an EVM chain: the Vyper contract, an in-process chain and JSON-RPC nodes.

The contract (``anchor.vy``, shipped in the package) is compiled at run time by the ``vyper``
package for a chosen EVM version (``paris`` by default: no PUSH0, so it deploys on chains that
stop before Shanghai) and cached as JSON beside the ledger. Anchors go out in batches of up to
256 roots per transaction; their ``Anchored`` events are decoded from the receipts into our own
index, so nothing ever scans the chain's logs.

The in-process chain (``eth-tester`` on py-evm) lives only as long as the process. Every raw
transaction sent to it is kept in the ledger, so :meth:`ChainClient.in_process` can rebuild the
same contract state later for verification by replaying them on a fresh chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ersgrid.errors import LedgerError

__all__ = [
    "DEFAULT_EVM_VERSION",
    "KIND_BLOCK",
    "KIND_SETTLEMENT",
    "AnchorItem",
    "ChainClient",
    "compile_anchor_contract",
]

KIND_BLOCK = 0
KIND_SETTLEMENT = 1
MAX_BATCH = 256
DEFAULT_EVM_VERSION = "paris"
_GAS_BASE = 90_000
_GAS_PER_ITEM = 32_000
_FUNDING_WEI = 10**21
_GAS_PRICE_WEI = 2 * 10**9


@dataclass(frozen=True)
class AnchorItem:
    """One root to anchor: ``kind`` (0 block, 1 settlement), its key and the 32-byte root."""

    kind: int
    key: int
    root: bytes


def compile_anchor_contract(
    cache_dir: Path | None, evm_version: str = DEFAULT_EVM_VERSION
) -> dict[str, Any]:
    """ABI and bytecode of the anchor contract, compiled offline with the ``vyper`` package.

    The artifact is cached in ``cache_dir/anchor-<hash>.json`` keyed by the source, the vyper
    version and the EVM version.
    """
    import vyper
    from vyper.compiler import compile_code
    from vyper.compiler.settings import Settings

    source = resources.files("ersgrid.ledger").joinpath("anchor.vy").read_text(encoding="utf-8")
    tag = hashlib.sha256(f"{source}|{vyper.__version__}|{evm_version}".encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"anchor-{tag}.json" if cache_dir is not None else None
    if cache is not None and cache.exists():
        data: dict[str, Any] = json.loads(cache.read_text(encoding="utf-8"))
        return data
    try:
        out = compile_code(
            source, output_formats=["abi", "bytecode"], settings=Settings(evm_version=evm_version)
        )
    except Exception as err:  # vyper raises many kinds; all mean the same to the caller
        raise LedgerError(f"cannot compile anchor.vy for EVM {evm_version!r}: {err}") from None
    data = {
        "abi": out["abi"], "bytecode": out["bytecode"], "vyper": vyper.__version__,
        "evm_version": evm_version, "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
    }  # fmt: skip
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(data), encoding="utf-8")
    return data


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

        On a development node (ganache, anvil, geth --dev) an empty account is funded from the
        node's first unlocked account; elsewhere an empty account is an error that names it.
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
        return int(self.w3.eth.chain_id)

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

    def deploy(self, artifact: dict[str, Any]) -> str:
        """Deploy the anchor contract from this account; return its address."""
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx = factory.constructor().build_transaction(
            {"from": self.account.address, "gas": 1_500_000, "gasPrice": 0, "nonce": 0}
        )
        receipt = self._send({"data": tx["data"], "gas": 1_500_000, "value": 0})
        address = str(receipt.contractAddress)
        self.attach(artifact, address)
        return address

    def attach(self, artifact: dict[str, Any], address: str) -> None:
        """Talk to an already deployed anchor contract at ``address``."""
        if not self.w3.eth.get_code(address):
            raise LedgerError(
                f"no contract at {address} on chain {self.chain_id}; is this the right chain?"
            )
        self.contract = self.w3.eth.contract(address=address, abi=artifact["abi"])

    def anchor(self, items: list[AnchorItem]) -> list[dict[str, Any]]:
        """Anchor roots in batches; return the index rows decoded from the receipts' events."""
        if self.contract is None:
            raise LedgerError("no anchor contract: deploy or attach first")
        rows: list[dict[str, Any]] = []
        for i in range(0, len(items), MAX_BATCH):
            batch = items[i : i + MAX_BATCH]
            call = self.contract.functions.anchor(
                [it.kind for it in batch], [it.key for it in batch], [it.root for it in batch]
            )
            gas = _GAS_BASE + _GAS_PER_ITEM * len(batch)
            tx = call.build_transaction(
                {"from": self.account.address, "gas": gas, "gasPrice": 0, "nonce": 0}
            )
            receipt = self._send({"to": tx["to"], "data": tx["data"], "gas": gas, "value": 0})
            events = self.contract.events.Anchored().process_receipt(receipt)
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

    def root(self, kind: int, key: int) -> bytes:
        """The root anchored for (kind, key); 32 zero bytes if none."""
        return bytes(self.contract.functions.roots(kind, key).call())
