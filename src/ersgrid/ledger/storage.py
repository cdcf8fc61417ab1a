"""Ledger storage through SQLAlchemy: SQLite by default, PostgreSQL by URL.

Each block is appended in one database transaction together with its records and
attestations, so a crash leaves either the whole block or none of it: a block whose
transaction committed is *acknowledged* and survives. SQLite runs in WAL mode.

Tables: ``meta`` (ledger settings and public keys, JSON), ``blocks``, ``attestations``,
``records`` (indexed columns beside the canonical ``body`` bytes and their leaf hash),
``statements`` and ``settlements`` (per period), ``anchors`` (our own index of what was
anchored, from decoded receipts) and ``chain_txs`` (raw transactions sent to the in-process
chain, so it can be rebuilt for verification).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from ersgrid.errors import LedgerError
from ersgrid.ledger.blocks import Block

__all__ = ["LedgerStore", "database_url"]

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
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("height", BigInteger, nullable=False),
    Column("unit", Integer, nullable=False),
    Column("pseudonym", LargeBinary, nullable=False, index=True),
    Column("period", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("leaf", LargeBinary, nullable=False),
)  # fmt: skip
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
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


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
        rec = block.records
        seqs = rec["seq"].tolist()
        units = rec["unit"].tolist()
        periods = rec["period"].tolist()
        pseudos = [bytes(p) for p in rec["pseudonym"]]
        rows = list(
            zip(
                seqs, [h] * len(seqs), units, pseudos, periods, block.bodies, block.leaves,
                strict=True,
            )
        )  # fmt: skip
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        insert_records = (
            "INSERT INTO records (seq, height, unit, pseudonym, period, body, leaf) "
            f"VALUES ({', '.join([mark] * 7)})"
        )
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
                conn.exec_driver_sql(insert_records, rows)
        except SQLAlchemyError as err:
            raise LedgerError(f"cannot append block {h}: {err}") from None

    def tip(self) -> tuple[int, bytes, int]:
        """(next height, hash of the last block or genesis, next record seq)."""
        from ersgrid.ledger.blocks import GENESIS_HASH, BlockHeader

        with self.engine.connect() as conn:
            row = conn.execute(
                select(blocks_t.c.header).order_by(blocks_t.c.height.desc()).limit(1)
            ).first()
        if row is None:
            return 0, GENESIS_HASH, 0
        head = BlockHeader.decode(row[0])
        return head.height + 1, head.hash, head.first_seq + head.n_records

    def block_rows(self) -> list[tuple[int, bytes, bytes, bytes]]:
        """(height, header, hash, signature) of every block in stored order of height."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(blocks_t.c.height, blocks_t.c.header, blocks_t.c.hash, blocks_t.c.signature)
                .order_by(blocks_t.c.height)
            ).all()  # fmt: skip
        return [(int(a), bytes(b), bytes(c), bytes(d)) for a, b, c, d in rows]

    def attestation_rows(self, height: int) -> list[tuple[int, bytes, bytes]]:
        """(unit, body, signature) of a block's attestations, by unit."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(attestations_t.c.unit, attestations_t.c.body, attestations_t.c.signature)
                .where(attestations_t.c.height == height).order_by(attestations_t.c.unit)
            ).all()  # fmt: skip
        return [(int(u), bytes(b), bytes(s)) for u, b, s in rows]

    def record_rows(self, first_seq: int, end_seq: int) -> list[tuple[Any, ...]]:
        """(seq, height, unit, pseudonym, period, body, leaf) for first_seq <= seq < end_seq."""
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (
            "SELECT seq, height, unit, pseudonym, period, body, leaf FROM records "
            f"WHERE seq >= {mark} AND seq < {mark} ORDER BY seq"
        )
        with self.engine.connect() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(sql, (first_seq, end_seq))
                return list(cur.fetchall())
            finally:
                cur.close()

    def records_of(self, pseudonyms: list[bytes]) -> list[tuple[int, int, bytes, bytes]]:
        """(seq, height, body, leaf) of every record of the given pseudonyms, by seq."""
        c = records_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.seq, c.height, c.body, c.leaf)
                .where(c.pseudonym.in_(pseudonyms)).order_by(c.seq)
            ).all()  # fmt: skip
        return [(int(s), int(h), bytes(b), bytes(lf)) for s, h, b, lf in rows]

    def leaves_between(self, first_seq: int, end_seq: int) -> list[bytes]:
        """Stored leaf hashes of records first_seq <= seq < end_seq, by seq."""
        c = records_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.leaf).where(c.seq >= first_seq, c.seq < end_seq).order_by(c.seq)
            ).all()
        return [bytes(r[0]) for r in rows]

    def count_records(self) -> int:
        """Number of stored records."""
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(records_t)).scalar_one())

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
    def put_anchors(self, rows: list[dict[str, Any]]) -> None:
        """Add anchors decoded from receipts to our index."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(anchors_t.insert(), rows)

    def clear_anchors(self) -> None:
        """Forget the anchor index and the in-process chain (when anchoring moves chains)."""
        with self.engine.begin() as conn:
            conn.execute(anchors_t.delete())
            conn.execute(chain_txs_t.delete())

    def anchors(self) -> dict[tuple[int, int], tuple[bytes, bytes, int]]:
        """(kind, key) → (root, tx hash, chain block number)."""
        c = anchors_t.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.kind, c.key, c.root, c.tx_hash, c.chain_block)).all()
        return {(int(k), int(key)): (bytes(r), bytes(t), int(b)) for k, key, r, t, b in rows}

    def add_chain_txs(self, raws: list[bytes]) -> None:
        """Append raw transactions sent to the in-process chain, in order."""
        with self.engine.begin() as conn:
            start = len(conn.execute(select(chain_txs_t.c.n)).all())
            if raws:
                conn.execute(
                    chain_txs_t.insert(), [{"n": start + i, "raw": r} for i, r in enumerate(raws)]
                )

    def chain_txs(self) -> list[bytes]:
        """Raw transactions of the in-process chain, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(chain_txs_t.c.raw).order_by(chain_txs_t.c.n)).all()
        return [bytes(r[0]) for r in rows]

    def iter_heights(self) -> Iterator[int]:
        """Heights of stored blocks, ascending."""
        for h, *_ in self.block_rows():
            yield h
