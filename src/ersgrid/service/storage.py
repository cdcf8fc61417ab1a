"""Storage of telemetry, trends, setpoints, plans, alarms, DR events and limit overrides
(SQLAlchemy Core).

SQLite by default, PostgreSQL when the URL names one (``postgresql://user@host/db``, driven
by psycopg 3). Telemetry arrives fast (tens of thousands of rows per second), so it is
buffered and written by one writer thread in batches, one transaction per batch; everything
else is written as it happens. A telemetry row is *acknowledged* once its batch has committed:
:attr:`Store.rows_written` counts only committed rows, and a commit on SQLite (WAL,
``synchronous=FULL``) or PostgreSQL (``synchronous_commit=on``) survives a killed process
and a power cut. Trends (one row per substation and tick of the live loop) go through the same
writer. Retention drops telemetry, trends and setpoints older than ``retention_days`` before
the service clock (the live loop's time), never before the newest stored row: one message
stamped far in the future cannot erase the history.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ersgrid.errors import ServiceError
from ersgrid.service.alarms import Alarm
from ersgrid.service.dr import DrEvent
from ersgrid.service.live import LiveLoop, TickReport

__all__ = ["TELEMETRY_COLUMNS", "TREND_COLUMNS", "Store", "committed", "deferred_commits"]

TELEMETRY_COLUMNS = ("ts", "received", "segment", "power_kw", "energy_kwh", "temperature_c",
                     "source")  # fmt: skip
"""Columns of a telemetry row: measurement time [s since epoch], receive time [s since epoch],
segment id, grid-side power [kW], cumulative grid-side meter [kWh], coil temperature [°C],
``twin`` or ``mqtt``."""

TREND_COLUMNS = ("ts", "substation", "road_kw", "road_limit_kw", "import_kw", "import_cap_kw",
                 "pv_kw", "wind_kw", "storage_kw", "v2g_kw", "charger_kw",
                 "price_per_kwh")  # fmt: skip
"""Columns of a trend row, one per substation and tick: scenario time at the tick's end [s since
epoch], substation id, road power and road limit, grid import and the import cap of DR events
and limit overrides (null where none) [kW], PV, wind, stationary batteries (charging
positive), V2G returned and service-area chargers [kW], energy price [currency/kWh]; every
value as the live loop's tick report has it."""

metadata = sa.MetaData()
telemetry = sa.Table(
    "telemetry", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("received", sa.Float, nullable=False),
    sa.Column("segment", sa.String(64), nullable=False),
    sa.Column("power_kw", sa.Float, nullable=False),
    sa.Column("energy_kwh", sa.Float),
    sa.Column("temperature_c", sa.Float),
    sa.Column("source", sa.String(8), nullable=False),
)  # fmt: skip
trends = sa.Table(
    "trends", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("substation", sa.String(64), nullable=False),
    *[sa.Column(c, sa.Float) for c in TREND_COLUMNS[2:]],
)  # fmt: skip
setpoints = sa.Table(
    "setpoints", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("segment", sa.String(64), nullable=False),
    sa.Column("limit_kw", sa.Float, nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
)  # fmt: skip
plans = sa.Table(
    "plans", metadata,
    sa.Column("step_time", sa.String(40), primary_key=True),
    sa.Column("strategy", sa.String(200), nullable=False),
    sa.Column("seg_limit_kw", sa.Text, nullable=False),
    sa.Column("sub_limit_kw", sa.Text, nullable=False),
)  # fmt: skip
alarms = sa.Table(
    "alarms", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("sim_time", sa.String(40), nullable=False),
    sa.Column("wall_time", sa.String(40), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("acknowledged", sa.Boolean, nullable=False),
    sa.Column("acknowledged_by", sa.String(200)),
)  # fmt: skip
dr_events = sa.Table(
    "dr_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("start", sa.String(40), nullable=False),
    sa.Column("end", sa.String(40), nullable=False),
    sa.Column("substations", sa.Text, nullable=False),
    sa.Column("import_limit_kw", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False),
)  # fmt: skip
limit_overrides = sa.Table(
    "limit_overrides", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("start", sa.String(40), nullable=False),
    sa.Column("end", sa.String(40), nullable=False),
    sa.Column("substation", sa.String(64), nullable=False),
    sa.Column("limit_kw", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False),
)  # fmt: skip
"""The operator's overrides of substation import limits."""
users = sa.Table(
    "users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
)  # fmt: skip
"""Accounts of the API: name, role (``viewer``, ``operator``, ``admin``), argon2 hash of the
password, creation time (ISO 8601, UTC)."""
service_secrets = sa.Table(
    "service_secrets", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)  # fmt: skip
"""Secrets the service keeps across restarts, e.g. the key that signs its bearer tokens."""


_DEFERRED: contextvars.ContextVar[list[Future[None]] | None] = contextvars.ContextVar(
    "ersgrid_deferred_commits", default=None
)


class deferred_commits:  # noqa: N801 - used as a context manager, named like one
    """Within this context the store's durable writes (alarms, DR events) are queued and
    their futures collected instead of waited for, so that an ``async`` route can await
    their commit without holding the event loop: ``with deferred_commits() as pending:
    ...; await asyncio.gather(*map(asyncio.wrap_future, pending))``."""

    def __enter__(self) -> list[Future[None]]:
        self._pending: list[Future[None]] = []
        self._token = _DEFERRED.set(self._pending)
        return self._pending

    def __exit__(self, *_exc: object) -> None:
        _DEFERRED.reset(self._token)


async def committed(pending: list[Future[None]]) -> None:
    """Wait, without blocking the event loop, until the writes of ``pending`` are committed."""
    if pending:
        await asyncio.gather(*(asyncio.wrap_future(f) for f in pending))


def _engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # a server's connection can drop between two uses: ping it before each; a SQLite file
    # cannot, and the request threads (up to 40) keep their connections instead of opening
    # a new one (with its pragmas) whenever more than five are busy
    options: dict[str, Any] = (
        {"pool_size": 16, "max_overflow": 32} if url.startswith("sqlite") else
        {"pool_pre_ping": True}
    )  # fmt: skip
    try:
        engine = sa.create_engine(url, **options)
    except Exception as err:  # bad URL or missing driver
        raise ServiceError(f"--db {url!r}: {err}") from None
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
            cur.execute("PRAGMA busy_timeout=10000")  # ingest processes write beside us
            cur.close()

    return engine


class Store:
    """The service's database.

    Parameters
    ----------
    url : str
        SQLAlchemy URL; ``postgresql://`` is driven by psycopg 3.
    retention_days : float [d]
        Telemetry and setpoints older than this before the service clock are purged by
        :meth:`purge`.
    batch_rows : int
        Most telemetry rows per insert batch.
    flush_s : float [s]
        Longest a telemetry row waits in the buffer.
    """

    def __init__(
        self,
        url: str,
        retention_days: float = 30.0,
        batch_rows: int = 20_000,
        flush_s: float = 0.2,
    ) -> None:
        self.url = url
        self.engine = _engine(url)
        try:
            metadata.create_all(self.engine)
        except sa.exc.SQLAlchemyError as err:
            raise ServiceError(f"cannot open the store at {url!r}: {err}") from None
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_sql = (
            f"INSERT INTO telemetry ({', '.join(TELEMETRY_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(TELEMETRY_COLUMNS))})"
        )
        self._trend_sql = (
            f"INSERT INTO trends ({', '.join(TREND_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(TREND_COLUMNS))})"
        )
        self._trend_buf: list[tuple[Any, ...]] = []
        self.retention_days = float(retention_days)
        self.batch_rows = int(batch_rows)
        self.flush_s = float(flush_s)
        self._buf: list[tuple[Any, ...]] = []
        self._buf_lock = threading.Lock()
        # alarms and DR events waiting for the writer, each with the future its caller waits on
        self._upserts: list[tuple[sa.Table, dict[str, Any], Future[None]]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rows_written = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self._last_plan: str | None = None
        self._seg_ids: list[str] = []

    # ---- telemetry ----------------------------------------------------------------------
    def add_telemetry(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Queue telemetry rows (tuples in the order of :data:`TELEMETRY_COLUMNS`)."""
        with self._buf_lock:
            before = len(self._buf)
            self._buf.extend(rows)
        if before < self.batch_rows <= before + len(rows):
            self._wake.set()

    def flush(self) -> int:
        """Write the buffered telemetry now; returns the number of rows written.

        Rows go to the driver's ``executemany`` as tuples (no per-row dicts): about 3 µs a
        row on SQLite against 15 µs through a Core insert.
        """
        with self._buf_lock:
            rows, self._buf = self._buf, []
            trend_rows, self._trend_buf = self._trend_buf, []
        if trend_rows:
            try:
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(self._trend_sql, trend_rows)
            except sa.exc.SQLAlchemyError as err:  # the database must not stop the loop
                self.write_errors += 1
                self.last_error = str(err).splitlines()[0]
        written = 0
        for lo in range(0, len(rows), self.batch_rows):
            chunk = rows[lo : lo + self.batch_rows]
            try:
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(self._insert_sql, chunk)
                written += len(chunk)
            except sa.exc.SQLAlchemyError as err:  # the database must not stop the loop
                self.write_errors += 1
                self.last_error = str(err).splitlines()[0]
        self.rows_written += written
        return written

    def pending(self) -> int:
        """Telemetry rows waiting in the buffer."""
        with self._buf_lock:
            return len(self._buf)

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._write_loop, name="ersgrid-store",
                                            daemon=True)  # fmt: skip
            self._thread.start()

    def stop(self) -> None:
        """Stop the writer thread after a last flush."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self._write_upserts()
        self.flush()

    def _write_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self._write_upserts()
            self.flush()
        self._write_upserts()

    def purge(self, now_ts: float) -> int:
        """Delete telemetry, trends and setpoints older than the retention; returns rows
        deleted.

        Parameters
        ----------
        now_ts : float [s since epoch]
            The service clock (the live loop's time), never a time read from the stored rows:
            a row stamped far in the future must not make every real row "old".
        """
        cutoff = float(now_ts) - self.retention_days * 86400.0
        n = 0
        with self.engine.begin() as conn:
            for table in (telemetry, trends, setpoints):
                n += conn.execute(table.delete().where(table.c.ts < cutoff)).rowcount
        return int(n)

    def count(self, table: str = "telemetry") -> int:
        """Rows in a table."""
        tab = metadata.tables[table]
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(tab)).scalar_one())

    def recent_telemetry(self, segment: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest telemetry rows of a segment, newest first."""
        q = (
            sa.select(*[telemetry.c[c] for c in TELEMETRY_COLUMNS])
            .where(telemetry.c.segment == segment)
            .order_by(telemetry.c.ts.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # ---- trends -------------------------------------------------------------------------
    def add_trends(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Queue trend rows (tuples in the order of :data:`TREND_COLUMNS`)."""
        with self._buf_lock:
            self._trend_buf.extend(rows)

    def trend_range(self) -> tuple[float, float] | None:
        """First and last time of the stored trends [s since epoch], None if there is none."""
        q = sa.select(sa.func.min(trends.c.ts), sa.func.max(trends.c.ts))
        with self.engine.connect() as conn:
            lo, hi = conn.execute(q).one()
        return None if lo is None else (float(lo), float(hi))

    def trends(
        self,
        start_ts: float,
        end_ts: float,
        substation: str | None = None,
        step_s: float = 0.0,
    ) -> list[dict[str, Any]]:
        """Stored trends with ``start_ts <= ts < end_ts`` [s since epoch], in time order.

        Parameters
        ----------
        substation : str, optional
            One substation; every one by default.
        step_s : float [s]
            Mean over buckets of this length (each row stamped with its bucket's start, its
            values the mean of the rows in it); 0 returns the rows as stored.

        Returns
        -------
        list of dict
            One per time (bucket) and substation, keys :data:`TREND_COLUMNS`; an import cap
            is averaged over the rows that had one (null if none had).
        """
        cols = [trends.c[c] for c in TREND_COLUMNS]
        q = sa.select(*cols).where(trends.c.ts >= start_ts, trends.c.ts < end_ts)
        if substation is not None:
            q = q.where(trends.c.substation == substation)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(trends.c.ts, trends.c.substation)).all()
        if step_s <= 0 or not rows:
            return [dict(zip(TREND_COLUMNS, r, strict=True)) for r in rows]
        values = np.array([[np.nan if v is None else v for v in r[2:]] for r in rows],
                          dtype=np.float64)  # fmt: skip
        subs = [r[1] for r in rows]
        bucket = np.floor((np.array([r[0] for r in rows]) - start_ts) / step_s)
        out: list[dict[str, Any]] = []
        keys = sorted(set(zip(bucket.tolist(), subs, strict=True)))
        index: dict[tuple[float, str], list[int]] = {key: [] for key in keys}
        for i, key in enumerate(zip(bucket.tolist(), subs, strict=True)):
            index[key].append(i)
        for (b, sub), rows_in in index.items():
            block = values[rows_in]
            counts = np.isfinite(block).sum(axis=0)
            means = np.where(counts > 0, np.nansum(block, axis=0) / np.maximum(counts, 1), np.nan)
            row = {"ts": start_ts + b * step_s, "substation": sub}
            row |= {c: None if not np.isfinite(m) else float(m)
                    for c, m in zip(TREND_COLUMNS[2:], means, strict=True)}  # fmt: skip
            out.append(row)
        return out

    # ---- everything else ----------------------------------------------------------------
    def add_setpoints(self, rows: Sequence[tuple[float, str, float, str]]) -> None:
        """Record setpoints sent: (time [s since epoch], segment, limit [kW], reason)."""
        if rows:
            keys = ("ts", "segment", "limit_kw", "reason")
            with self.engine.begin() as conn:
                conn.execute(setpoints.insert(), [dict(zip(keys, r, strict=True)) for r in rows])

    def save_alarm(self, alarm: Alarm) -> None:
        """Insert or update an alarm."""
        row = {c.name: getattr(alarm, c.name) for c in alarms.columns}
        self._upsert(alarms, row)

    def save_dr_event(self, event: DrEvent) -> None:
        """Insert or update a DR event."""
        row = {
            "id": event.id, "start": event.start.isoformat(), "end": event.end.isoformat(),
            "substations": json.dumps(event.substations), "import_limit_kw": event.import_limit_kw,
            "reason": event.reason, "cancelled": event.cancelled,
        }  # fmt: skip
        self._upsert(dr_events, row)

    def save_limit_override(self, event: DrEvent) -> None:
        """Insert or update an operator's limit override (a :class:`DrEvent` of one
        substation in the loop's book of overrides)."""
        row = {
            "id": event.id, "start": event.start.isoformat(), "end": event.end.isoformat(),
            "substation": event.substations[0], "limit_kw": event.import_limit_kw,
            "reason": event.reason, "cancelled": event.cancelled,
        }  # fmt: skip
        self._upsert(limit_overrides, row)

    def _upsert(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Write a row and return once it is committed.

        With the writer thread running, the rows of every caller waiting at the same time
        share one transaction (group commit): a hundred operators raising alarms at once
        cost one ``fsync``, not a hundred, and each call still returns only after its row
        is on disk (or, within :class:`deferred_commits`, hands its caller the future).
        """
        done: Future[None] = Future()
        with self._buf_lock:
            writer = (
                self._thread is not None and self._thread.is_alive() and not self._stop.is_set()
            )
            if writer:
                self._upserts.append((table, row, done))
        if not writer:
            self._commit_upserts([(table, row, done)])
        else:
            self._wake.set()
        deferred = _DEFERRED.get()
        if deferred is not None:
            deferred.append(done)  # the caller awaits it (see deferred_commits)
        else:
            done.result()

    def _write_upserts(self) -> None:
        with self._buf_lock:
            batch, self._upserts = self._upserts, []
        if batch:
            self._commit_upserts(batch)

    def _commit_upserts(self, batch: list[tuple[sa.Table, dict[str, Any], Future[None]]]) -> None:
        try:
            with self.engine.begin() as conn:
                for table, row, _ in batch:
                    done = conn.execute(
                        table.update().where(table.c.id == row["id"]).values(**row)
                    ).rowcount
                    if not done:
                        conn.execute(table.insert().values(**row))
        except sa.exc.SQLAlchemyError as err:
            self.write_errors += 1
            self.last_error = str(err).splitlines()[0]
        for _, _, waiter in batch:
            waiter.set_result(None)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a small table (alarms, dr_events, plans)."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(metadata.tables[table]))]

    # ---- users and secrets ------------------------------------------------------------
    def add_user(self, name: str, role: str, password_hash: str, created: str) -> None:
        """Insert an account; :class:`ServiceError` if the name is taken."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    users.insert().values(
                        name=name, role=role, password_hash=password_hash, created=created
                    )
                )
        except sa.exc.IntegrityError:
            raise ServiceError(f"user {name!r} exists already") from None

    def set_user(self, name: str, **values: str) -> bool:
        """Update an account's ``role`` or ``password_hash``; False if there is no such user."""
        with self.engine.begin() as conn:
            done = conn.execute(users.update().where(users.c.name == name).values(**values))
            return bool(done.rowcount)

    def get_user(self, name: str) -> dict[str, Any] | None:
        """An account's row, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        return None if row is None else dict(row._mapping)

    def list_users(self) -> list[dict[str, Any]]:
        """Every account, by name."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(users).order_by(users.c.name))]

    def delete_user(self, name: str) -> bool:
        """Remove an account; False if there was none."""
        with self.engine.begin() as conn:
            return bool(conn.execute(users.delete().where(users.c.name == name)).rowcount)

    def secret(self, name: str, make: Callable[[], str]) -> str:
        """The secret ``name``, made with ``make`` and kept the first time it is asked for."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(service_secrets.c.value).where(service_secrets.c.name == name)
            ).first()
            if row is not None:
                return str(row[0])
            value = make()
            conn.execute(service_secrets.insert().values(name=name, value=value))
            return value

    # ---- wiring to the live loop --------------------------------------------------------
    def attach(self, loop: LiveLoop, twin_telemetry: bool = True) -> None:
        """Record the loop's plans, trends, alarms, DR events and limit overrides, and the
        twin's telemetry if asked.

        Parameters
        ----------
        twin_telemetry : bool
            Store the twin's meter readings each tick (off when they arrive over MQTT).
        """
        self._seg_ids = list(loop.layout.seg_ids)
        self._twin_telemetry = twin_telemetry
        self._energy = np.zeros(loop.layout.n_segments)
        loop.alarms.on_change = self.save_alarm
        loop.dr.on_change = self.save_dr_event
        loop.overrides.on_change = self.save_limit_override
        loop.observers.append(lambda report: self._observe(loop, report))

    def _observe(self, loop: LiveLoop, report: TickReport) -> None:
        if loop.decided_at is not None and loop.decision is not None:
            key = loop.decided_at.isoformat()
            if key != self._last_plan:
                self._last_plan = key
                row = {
                    "step_time": key, "strategy": loop.policy.name,
                    "seg_limit_kw": json.dumps(loop.decision.seg_limit_kw.tolist()),
                    "sub_limit_kw": json.dumps(loop.decision.sub_limit_kw.tolist()),
                }  # fmt: skip
                with self.engine.begin() as conn:
                    conn.execute(plans.delete().where(plans.c.step_time == key))
                    conn.execute(plans.insert().values(**row))
        if self._twin_telemetry:
            self._energy += report.readings.seg_grid_kwh
            ts = report.time.timestamp()
            now = time.time()
            kw = report.readings.seg_grid_kwh / (report.duration_s / 3600.0)
            temp = report.readings.seg_temperature_c
            self.add_telemetry(
                [
                    (ts, now, sid, float(kw[i]), float(self._energy[i]), float(temp[i]), "twin")
                    for i, sid in enumerate(self._seg_ids)
                ]
            )
        self.add_trends(trend_rows(loop, report))
        if loop.ticks % 240 == 0:  # once an hour of scenario time at 15 s ticks
            try:
                self.purge(report.time.timestamp())  # by the service clock
            except sa.exc.SQLAlchemyError as err:
                self.write_errors += 1
                self.last_error = str(err).splitlines()[0]

    def status(self) -> dict[str, Any]:
        """For /api/health and the dashboard."""
        return {
            "url": self.engine.url.render_as_string(hide_password=True),
            "dialect": self.engine.dialect.name,
            "telemetry_rows_written": self.rows_written,
            "pending": self.pending(),
            "write_errors": self.write_errors,
            "last_error": self.last_error,
            "retention_days": self.retention_days,
        }


def trend_rows(loop: LiveLoop, report: TickReport) -> list[tuple[Any, ...]]:
    """The trend rows of one tick (:data:`TREND_COLUMNS`), from its report and the caps, PV
    and wind the loop keeps."""
    lay, k = loop.layout, report.plan_step
    caps = loop.import_caps_kw(report.time - pd.Timedelta(seconds=report.duration_s))
    v2g = np.bincount(lay.seg_substation, weights=report.seg_v2g_kw, minlength=lay.n_substations)
    ts = report.time.timestamp()
    return [
        (ts, sid, float(report.sub_road_kw[j]), float(report.sub_limit_kw[j]),
         float(report.sub_import_kw[j]), float(caps[j]) if np.isfinite(caps[j]) else None,
         float(loop.pv_kw[k, j]), float(loop.wind_kw[k, j]), float(report.sub_storage_kw[j]),
         float(v2g[j]), float(report.sub_charger_kw[j]), float(report.price_per_kwh))
        for j, sid in enumerate(lay.sub_ids)
    ]  # fmt: skip
