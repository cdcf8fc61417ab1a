"""Writing a ledger: create its keys and database, append records as blocks, settle, anchor.

Every step commits before it returns (see :mod:`ersgrid.ledger.storage`): once
:meth:`LedgerWriter.append` returns its blocks are acknowledged, once :meth:`LedgerWriter.settle`
returns the periods are settled, and :meth:`LedgerWriter.durable` says what the database
holds committed. A writer killed between two steps leaves a ledger that verifies, with its
tail reported as incomplete (blocks not yet settled or anchored); a block half written is
rolled back by the database.
"""

from __future__ import annotations

import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.errors import LedgerError, LedgerTampered
from ersgrid.ledger.blocks import Block, build_block
from ersgrid.ledger.chain import (
    DEFAULT_EVM_VERSION,
    KIND_BLOCK,
    KIND_SETTLEMENT,
    AnchorItem,
    ChainClient,
    compile_anchor_contract,
)
from ersgrid.ledger.keys import KeyStore, public_bytes
from ersgrid.ledger.settlement import PeriodSettlement, check_balance, settle_period
from ersgrid.ledger.storage import DurablePoint, LedgerStore, database_url
from ersgrid.ledger.trust import Trust, account_address, write_trust
from ersgrid.scenario.settlement import ROLES, SettlementSpec
from ersgrid.timeindex import planning_step_of

__all__ = [
    "LEDGER_FORMAT",
    "SETTLEMENT_DOMAIN",
    "LedgerWriter",
    "PriceTable",
    "settlement_message",
]

SETTLEMENT_DOMAIN = b"ersgrid-settlement-v1|"
LEDGER_FORMAT = 3
"""Storage layout: 2 keeps each unit's records of a block in one row; 3 adds the connections'
meters as units and the user price of every step, and settles from them."""
DEFAULT_BLOCK_RECORDS = 100_000


def settlement_message(period: int, root: bytes) -> bytes:
    """What the road operator signs for a period's settlement."""
    return SETTLEMENT_DOMAIN + struct.pack(">q", period) + root


@dataclass(frozen=True)
class PriceTable:
    """Retailer's price per planning step: ``values[k]`` holds from ``start_ms + k·step_ms``."""

    start_ms: int
    step_ms: int
    values: list[float]

    def at(self, time_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Price in force at each time [currency/kWh]: the price of the planning step each
        metering ends in (:func:`~ersgrid.timeindex.planning_step_of`)."""
        k = planning_step_of(time_ms, self.start_ms, self.step_ms, len(self.values))
        return np.asarray(self.values, dtype=np.float64)[k]


def price_tables(meta: dict[str, Any]) -> tuple[PriceTable, PriceTable]:
    """The grid price and user price tables of a ledger's meta values."""
    p, u = meta["prices"], meta["user_prices"]
    return (
        PriceTable(p["start_ms"], p["step_ms"], p["values"]),
        PriceTable(u["start_ms"], u["step_ms"], u["values"]),
    )


class LedgerWriter:
    """Creates a ledger in ``folder`` (database, ``trust.json``, ``keys/``) and appends to it.

    Parameters
    ----------
    folder : Path
        Holds ``ledger.sqlite`` (unless ``db_url`` is given), ``trust.json`` and ``keys/``.
    db_url : str, optional
        SQLAlchemy URL of the database (PostgreSQL in production).
    """

    def __init__(self, folder: Path, db_url: str | None = None, create: bool = False) -> None:
        self.folder = Path(folder)
        if db_url is None and not create and not (self.folder / "ledger.sqlite").exists():
            raise LedgerError(f"no ledger in {str(folder)!r}: ledger.sqlite is missing")
        self.store = LedgerStore(database_url(self.folder, db_url), create=create)
        self.keys = KeyStore(self.folder / "keys")
        self._chain: ChainClient | None = None  # the in-process chain, kept between anchors
        self._chain_stored = 0  # of its sent transactions, how many the ledger holds

    @classmethod
    def create(
        cls,
        folder: Path,
        units: list[dict[str, Any]],
        *,
        timezone: str,
        currency: str,
        rules: SettlementSpec,
        tariffs: list[dict[str, Any]],
        prices: PriceTable,
        user_prices: PriceTable,
        reference_price_per_kwh: float,
        db_url: str | None = None,
        name: str = "",
    ) -> LedgerWriter:
        """Create keys, an empty ledger and its ``trust.json`` (the public keys to pin).

        Parameters
        ----------
        units : list of dict
            One per power unit, in unit-index order: ``id`` and ``substation``.
        tariffs : list of dict
            ``name``, ``export_price_per_kwh``, ``v2g_payment_per_kwh`` and
            ``network_fee_per_kwh`` each (records point here).
        prices, user_prices : PriceTable
            The grid price and the user price of every planning step.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        keys = KeyStore.create(folder / "keys", len(units), ROLES)
        writer = cls(folder, db_url, create=True)
        if writer.store.tip()[0] != 0:
            raise LedgerError(f"the database {writer.store.url!r} already holds a ledger")
        writer.keys = keys
        unit_meta = [
            {"unit": i, **u, "public_key": public_bytes(keys.unit_key(i)).hex()}
            for i, u in enumerate(units)
        ]
        parties = {r: public_bytes(keys.party_key(r)).hex() for r in ROLES}
        writer.store.set_meta(
            format=LEDGER_FORMAT, name=name, run_id=uuid.uuid4().hex, timezone=timezone,
            currency=currency,
            period=rules.period, rules=rules.model_dump(mode="json"), tariffs=tariffs,
            prices={"start_ms": prices.start_ms, "step_ms": prices.step_ms,
                    "values": list(prices.values)},
            user_prices={"start_ms": user_prices.start_ms, "step_ms": user_prices.step_ms,
                         "values": list(user_prices.values)},
            reference_price_per_kwh=reference_price_per_kwh, units=unit_meta, parties=parties,
            chain_account=account_address(keys.chain_account()),
        )  # fmt: skip
        meta = writer.meta()
        write_trust(folder, meta, meta["chain_account"])
        return writer

    def meta(self) -> dict[str, Any]:
        """The ledger's meta values."""
        return self.store.meta()

    def durable(self) -> DurablePoint:
        """What the database holds committed: blocks, records, settled periods, anchors.

        Everything counted here survives a killed process (and a power cut, see
        :mod:`ersgrid.ledger.storage`); a caller acknowledges records or a settled period to
        others once this point covers them.
        """
        return self.store.durable()

    def append(
        self, records: npt.NDArray[np.void], max_block_records: int = DEFAULT_BLOCK_RECORDS
    ) -> list[Block]:
        """Append records as blocks (one or more per period); return the blocks written.

        ``seq`` is assigned here. Records are grouped by period, then sorted by unit and end
        time. Each block is committed on its own: once this returns, every record is
        acknowledged.
        """
        if len(records) == 0:
            return []
        order = np.lexsort((records["end_ms"], records["unit"], records["period"]))
        rec = np.array(records[order], copy=True)
        height, prev, seq = self.store.tip()
        rec["seq"] = np.arange(seq, seq + len(rec), dtype=np.uint64)
        periods = np.asarray(rec["period"], dtype=np.int64)
        cuts = np.flatnonzero(np.diff(periods)) + 1
        written = []
        for part in np.split(rec, cuts):
            for a in range(0, len(part), max_block_records):
                chunk = part[a : a + max_block_records]
                block = build_block(chunk, height, prev, self.keys, int(time.time() * 1000))
                self.store.append_block(block)
                written.append(block)
                height, prev = height + 1, block.hash
        return written

    def settle(self, records: npt.NDArray[np.void]) -> tuple[list[PeriodSettlement], bool]:
        """Settle every period of ``records`` (all of each period's records), store and sign.

        Returns
        -------
        (settlements, balanced)
            ``balanced`` is True when every period's money sums to zero and its statements'
            energy equals the metered energy.
        """
        meta = self.meta()
        rules = SettlementSpec.model_validate(meta["rules"])
        prices, user_prices = price_tables(meta)
        producer = self.keys.party_key("road_operator")
        out = []
        balanced = True
        periods = np.asarray(records["period"], dtype=np.int64)
        for period in np.unique(periods).tolist():
            rec = records[periods == period]
            st = settle_period(
                period, rec, prices.at(rec["end_ms"]), user_prices.at(rec["end_ms"]),
                meta["tariffs"], rules, meta["reference_price_per_kwh"], meta["currency"],
            )  # fmt: skip
            balanced &= check_balance(st, rec) is None
            root = st.root()
            self.store.put_settlement(
                period, st.canonical(), root, producer.sign(settlement_message(period, root))
            )
            out.append(st)
        return out, balanced

    def anchor(
        self,
        chain_url: str | None = None,
        evm_version: str = DEFAULT_EVM_VERSION,
    ) -> int:
        """Anchor every block and settlement not anchored yet; return how many roots were sent.

        Deploys the contract on first use (in-process chain unless ``chain_url``), publishing
        the digest of the ledger's signer keys. Given a ``chain_url`` other than the ledger's
        chain, anchoring moves there: a new contract is deployed, every root is anchored on it
        and the old chain is kept in the meta as ``previous_chains``. For the in-process chain
        every raw transaction is kept in the ledger for later replay, and the chain itself is
        kept by this writer for its next call. Roots a JSON-RPC chain already holds (a writer
        killed after its transaction was mined) are taken into the index from the chain's log.
        """
        meta = self.meta()
        chain = meta.get("chain")
        moving = chain is not None and chain_url is not None and chain_url != chain.get("url")
        new_meta: dict[str, Any] = {}
        if chain is None or moving:
            artifact = compile_anchor_contract(evm_version)
            account = self.keys.chain_account()
            client = (
                ChainClient.connect(chain_url, account)
                if chain_url
                else ChainClient.in_process(account)
            )
            client.ensure_funds()
            address = client.deploy(artifact, Trust.of_meta(meta).digest())
            previous = meta.get("previous_chains", []) + ([chain] if moving else [])
            chain = {
                "kind": client.kind, "url": chain_url, "chain_id": client.chain_id,
                "contract": address, "evm_version": artifact["evm_version"],
                "vyper": artifact["vyper"], "account": client.account.address,
            }  # fmt: skip
            if moving:
                new_meta["previous_chains"] = previous
            self._chain_stored = 0
            new_meta["chain"] = chain
        else:
            client = self._attached(chain, chain_url)
        if client.kind == "in-process":
            self._chain = client
        done = {} if moving else self.store.anchors()
        items = [
            AnchorItem(KIND_BLOCK, h, hsh)
            for h, _, hsh, _ in self.store.block_rows()
            if (KIND_BLOCK, h) not in done
        ] + [
            AnchorItem(KIND_SETTLEMENT, p, root)
            for p, _, root, _ in self.store.settlement_rows()
            if (KIND_SETTLEMENT, p) not in done
        ]
        recovered: list[dict[str, Any]] = []
        if client.kind == "json-rpc" and items:
            items, recovered = _already_anchored(client, items)
        rows = client.anchor(items) if items else []
        raws = client.sent[self._chain_stored :] if client.kind == "in-process" else []
        self.store.put_anchors(recovered + rows, raws, new_meta, replace=moving)
        self._chain_stored = len(client.sent)
        return len(rows)

    def _attached(self, chain: dict[str, Any], chain_url: str | None) -> ChainClient:
        """A client on the ledger's own chain and contract."""
        if chain["kind"] == "in-process":
            kept = self._chain
            if kept is not None and self.store.count_chain_txs() == self._chain_stored:
                return kept  # nobody else anchored since: no replay needed
            txs = self.store.chain_txs()
            client = ChainClient.in_process(self.keys.chain_account(), replay=txs)
            client.sent = list(txs)
            self._chain_stored = len(txs)
        else:
            client = ChainClient.connect(chain_url or chain["url"], self.keys.chain_account())
        client.attach(compile_anchor_contract(chain["evm_version"]), chain["contract"])
        return client

    def close(self) -> None:
        """Release the database."""
        self.store.close()


def _already_anchored(
    client: ChainClient, items: list[AnchorItem]
) -> tuple[list[AnchorItem], list[dict[str, Any]]]:
    """Split ``items`` into those still to send and index rows of those the chain holds."""
    counts = client.counts()
    todo: list[AnchorItem] = []
    found: list[dict[str, Any]] = []
    for it in items:
        held = it.key < counts.blocks if it.kind == KIND_BLOCK else counts.settlements > 0
        on_chain = client.root(it.kind, it.key) if held else bytes(32)
        if on_chain == bytes(32):
            todo.append(it)
            continue
        if on_chain != it.root:
            what = f"block {it.key}" if it.kind == KIND_BLOCK else f"settlement of period {it.key}"
            raise LedgerTampered(
                f"{what}: the chain holds another root (0x{on_chain.hex()[:16]}…) than the "
                f"ledger (0x{it.root.hex()[:16]}…); the ledger was rewritten after anchoring"
            )
        row = client.recover(it.kind, it.key)
        if row is None:
            raise LedgerError(f"the chain holds root {it.kind}/{it.key} but logged no event")
        found.append(row)
    return todo, found
