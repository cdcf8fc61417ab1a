"""Ledger storage through SQLAlchemy: SQLite by default, PostgreSQL by URL.

Each block is appended in one database transaction together with its records and
attestations, so a crash leaves either the whole block or none of it: a block whose
transaction committed is *acknowledged* and survives. A period's settlement is one
transaction too, and so are the anchors decoded from one anchoring call with the raw
transactions behind them. SQLite runs in WAL mode with ``synchronous=FULL``: a commit
returns only once the write-ahead log is on disk, so what was acknowledged survives a killed
process and a power cut alike (``NORMAL`` would survive the first only). PostgreSQL's
defaults (``synchronous_commit=on``) give the same.

Tables: ``meta`` (ledger settings and public keys, JSON), ``blocks``, ``attestations``,
``records`` (one row per power unit and block: the canonical bytes of that unit's records in
the block, 72 bytes each, in seq order, exactly what the unit's attestation signs),
``statements`` and ``settlements`` (per period), ``anchors`` (our own index of what was
anchored, from decoded receipts) and ``chain_txs`` (raw transactions sent to the in-process
chain, so it can be rebuilt for verification).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from ersgrid.errors import LedgerError
from ersgrid.ledger.blocks import GENESIS_HASH, Block, BlockHeader
from ersgrid.ledger.records import RECORD_SIZE

__all__ = ["DurablePoint", "LedgerStore", "database_url"]

metadata = MetaData()
meta_t = Table("meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text))
blocks_t = Table(
    "blocks", metadata,
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("period", BigInteger, nullable=False, index=True),
    Column("header", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)  # fmt: skip
attestations_t = Table(
    "attestations", metadata,
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("unit", Integer, primary_key=True, autoincrement=False),
    Column("body", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)  # fmt: skip
records_t = Table(
    "records", metadata,
    Column("height", BigInteger, primary_key=True, autoincrement=False),
    Column("unit", Integer, primary_key=True, autoincrement=False),
    Column("bodies", LargeBinary, nullable=False),
    Column("leaves", LargeBinary, nullable=False),
)  # fmt: skip
"""One row per power unit and block: that unit's records in the block, concatenated, and
their leaf hashes (32 bytes each, so that verify can name the record that changed)."""
statements_t = Table(
    "statements", metadata,
    Column("period", BigInteger, primary_key=True, autoincrement=False),
    Column("party", String(80), primary_key=True),
    Column("body", Text, nullable=False),
    Column("leaf", LargeBinary, nullable=False),
)  # fmt: skip
settlements_t = Table(
    "settlements", metadata,
    Column("period", BigInteger, primary_key=True, autoincrement=False),
    Column("n_statements", Integer, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)  # fmt: skip
anchors_t = Table(
    "anchors", metadata,
    Column("kind", Integer, primary_key=True, autoincrement=False),
    Column("key", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("tx_hash", LargeBinary, nullable=False),
    Column("chain_block", BigInteger, nullable=False),
)  # fmt: skip
chain_txs_t = Table(
    "chain_txs", metadata,
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("raw", LargeBinary, nullable=False),
)  # fmt: skip


def database_url(folder: Path, url: str | None = None) -> str:
    """The ledger database URL: ``url`` if given, else SQLite file ``ledger.sqlite`` in folder."""
    return url or f"sqlite:///{Path(folder) / 'ledger.sqlite'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


@dataclass(frozen=True)
class DurablePoint:
    """What the ledger holds committed: everything up to here survives a crash.

    ``blocks`` blocks (heights 0 .. blocks-1) with ``records`` records (seq 0 .. records-1)
    ending in the block hash ``tip_hash``; ``settled`` periods settled, the latest starting
    at ``last_settled_period`` [unix s] (None before the first); ``anchored`` roots recorded
    as anchored.
    """

    blocks: int
    records: int
    tip_hash: bytes
    settled: int
    last_settled_period: int | None
    anchored: int


class LedgerStore:
    """One ledger database.

    Parameters
    ----------
    url : str
        SQLAlchemy URL, e.g. ``sqlite:///results/x/ledger.sqlite`` or
        ``postgresql+psycopg://postgres@127.0.0.1:5432/test``.
    create : bool
        Create the tables if they do not exist.
    """

    def __init__(self, url: str, create: bool = False) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        self.url = url
        try:
            self.engine: Engine = create_engine(url)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            if create:
                metadata.create_all(self.engine)
            else:
                with self.engine.connect() as conn:
                    found = self.engine.dialect.has_table(conn, "blocks")
                if not found:
                    raise LedgerError(f"no ledger at {url!r}: the database has no blocks table")
        except SQLAlchemyError as err:
            raise LedgerError(f"cannot open ledger database {url!r}: {err}") from None

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def drop_all(self) -> None:
        """Delete every ledger table (for tests against a shared server)."""
        metadata.drop_all(self.engine)

    # -- meta ------------------------------------------------------------------------
    def set_meta(self, **values: Any) -> None:
        """Store JSON values under their keys (replacing older ones)."""
        with self.engine.begin() as conn:
            for key, value in values.items():
                conn.execute(meta_t.delete().where(meta_t.c.key == key))
                conn.execute(meta_t.insert().values(key=key, value=json.dumps(value)))

    def meta(self) -> dict[str, Any]:
        """Every meta value, decoded."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(meta_t.c.key, meta_t.c.value)).all()
        return {k: json.loads(v) for k, v in rows}

    # -- blocks ----------------------------------------------------------------------
    def append_block(self, block: Block) -> None:
        """Store one block with its records and attestations in a single transaction."""
        h = block.header.height
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    blocks_t.insert().values(
                        height=h, period=block.header.period, header=block.header.encode(),
                        hash=block.hash, signature=block.signature,
                    )
                )  # fmt: skip
                conn.execute(
                    attestations_t.insert(),
                    [{"height": h, "unit": a.unit, "body": a.body(), "signature": a.signature}
                     for a in block.attestations],
                )  # fmt: skip
                conn.execute(
                    records_t.insert(),
                    [{"height": h, "unit": a.unit, "bodies": block.unit_bytes(a),
                      "leaves": block.unit_leaves(a)}
                     for a in block.attestations],
                )  # fmt: skip
        except SQLAlchemyError as err:
            raise LedgerError(f"cannot append block {h}: {err}") from None

    def tip(self) -> tuple[int, bytes, int]:
        """(next height, hash of the last block or genesis, next record seq)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(blocks_t.c.header).order_by(blocks_t.c.height.desc()).limit(1)
            ).first()
        if row is None:
            return 0, GENESIS_HASH, 0
        head = BlockHeader.decode(row[0])
        return head.height + 1, head.hash, head.first_seq + head.n_records

    def durable(self) -> DurablePoint:
        """What is committed now (one read transaction): see :class:`DurablePoint`."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(blocks_t.c.header).order_by(blocks_t.c.height.desc()).limit(1)
            ).first()
            settled, last = conn.execute(
                select(func.count(), func.max(settlements_t.c.period))
            ).one()
            anchored = conn.execute(select(func.count()).select_from(anchors_t)).scalar_one()
        blocks, tip_hash, records = 0, GENESIS_HASH, 0
        if row is not None:
            head = BlockHeader.decode(row[0])
            blocks, tip_hash, records = head.height + 1, head.hash, head.first_seq + head.n_records
        return DurablePoint(
            blocks, records, tip_hash, int(settled), None if last is None else int(last),
            int(anchored),
        )  # fmt: skip

    def block_rows(self) -> list[tuple[int, bytes, bytes, bytes]]:
        """(height, header, hash, signature) of every block in stored order of height."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(blocks_t.c.height, blocks_t.c.header, blocks_t.c.hash, blocks_t.c.signature)
                .order_by(blocks_t.c.height)
            ).all()  # fmt: skip
        return [(int(a), bytes(b), bytes(c), bytes(d)) for a, b, c, d in rows]

    def heights_of_period(self, period: int) -> list[int]:
        """Heights of the blocks that hold records of ``period`` [unix s]."""
        c = blocks_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.height).where(c.period == period).order_by(c.height)).all()
        return [int(r[0]) for r in rows]

    def attestation_rows(self, height: int) -> list[tuple[int, bytes, bytes]]:
        """(unit, body, signature) of a block's attestations, by unit."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(attestations_t.c.unit, attestations_t.c.body, attestations_t.c.signature)
                .where(attestations_t.c.height == height).order_by(attestations_t.c.unit)
            ).all()  # fmt: skip
        return [(int(u), bytes(b), bytes(s)) for u, b, s in rows]

    def record_rows(self, height: int) -> list[tuple[int, bytes, bytes]]:
        """(unit, concatenated record bytes, concatenated leaves) of a block, by unit."""
        c = records_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.unit, c.bodies, c.leaves).where(c.height == height).order_by(c.unit)
            ).all()
        return [(int(u), bytes(b), bytes(lf)) for u, b, lf in rows]

    def block_records(self, height: int) -> bytes:
        """The canonical bytes of every record of a block, units in order (as stored)."""
        return b"".join(b for _, b, _ in self.record_rows(height))

    def stray_record_rows(self, heights: int) -> list[tuple[int, int]]:
        """(height, unit) of stored record rows outside heights 0 .. heights-1."""
        c = records_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.height, c.unit).where((c.height >= heights) | (c.height < 0))
                .order_by(c.height, c.unit)
            ).all()  # fmt: skip
        return [(int(h), int(u)) for h, u in rows]

    def count_records(self) -> int:
        """Number of stored records (bytes stored / record size)."""
        with self.engine.connect() as conn:
            size = conn.execute(
                select(func.coalesce(func.sum(func.length(records_t.c.bodies)), 0))
            ).scalar_one()
        return int(size) // RECORD_SIZE

    # -- settlement ------------------------------------------------------------------
    def put_settlement(
        self, period: int, statements: list[tuple[str, str, bytes]], root: bytes, signature: bytes
    ) -> None:
        """Store one period's statements (party, body, leaf) and signed root atomically."""
        with self.engine.begin() as conn:
            conn.execute(
                statements_t.insert(),
                [{"period": period, "party": p, "body": b, "leaf": lf} for p, b, lf in statements],
            )
            conn.execute(
                settlements_t.insert().values(
                    period=period, n_statements=len(statements), root=root, signature=signature
                )
            )

    def settlement_rows(self) -> list[tuple[int, int, bytes, bytes]]:
        """(period, n_statements, root, signature) by period."""
        c = settlements_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.period, c.n_statements, c.root, c.signature).order_by(c.period)
            ).all()
        return [(int(p), int(n), bytes(r), bytes(s)) for p, n, r, s in rows]

    def statement_rows(self, period: int) -> list[tuple[str, str, bytes]]:
        """(party, body, leaf) of a period's statements, by party."""
        c = statements_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.party, c.body, c.leaf).where(c.period == period).order_by(c.party)
            ).all()
        return [(str(p), str(b), bytes(lf)) for p, b, lf in rows]

    # -- chain -----------------------------------------------------------------------
    def put_anchors(
        self,
        rows: list[dict[str, Any]],
        raws: list[bytes] | None = None,
        meta: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> None:
        """Add anchors decoded from receipts to our index, the raw transactions sent to the
        in-process chain for them and any meta values, in one transaction (the index and the
        ledger's chain record never run ahead of the replayable chain). With ``replace``, the
        old index and in-process log are dropped first, in the same transaction (anchoring
        moved to another chain)."""
        with self.engine.begin() as conn:
            if replace:
                conn.execute(anchors_t.delete())
                conn.execute(chain_txs_t.delete())
            if rows:
                conn.execute(anchors_t.insert(), rows)
            if raws:
                start = conn.execute(select(func.count()).select_from(chain_txs_t)).scalar_one()
                conn.execute(
                    chain_txs_t.insert(),
                    [{"n": int(start) + i, "raw": r} for i, r in enumerate(raws)],
                )
            for key, value in (meta or {}).items():
                conn.execute(meta_t.delete().where(meta_t.c.key == key))
                conn.execute(meta_t.insert().values(key=key, value=json.dumps(value)))

    def count_chain_txs(self) -> int:
        """Number of raw transactions kept for the in-process chain."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(chain_txs_t)).scalar_one())

    def anchors(self) -> dict[tuple[int, int], tuple[bytes, bytes, int]]:
        """(kind, key) → (root, tx hash, chain block number)."""
        c = anchors_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.kind, c.key, c.root, c.tx_hash, c.chain_block)).all()
        return {(int(k), int(key)): (bytes(r), bytes(t), int(b)) for k, key, r, t, b in rows}

    def add_chain_txs(self, raws: list[bytes]) -> None:
        """Append raw transactions sent to the in-process chain, in order."""
        self.put_anchors([], raws)

    def chain_txs(self) -> list[bytes]:
        """Raw transactions of the in-process chain, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(chain_txs_t.c.raw).order_by(chain_txs_t.c.n)).all()
        return [bytes(r[0]) for r in rows]
