"""Telemetry ingest in worker processes on an MQTT shared subscription.

One Python process receives MQTT messages through paho at a rate bound by the interpreter
(paho reads each packet with several ``recv`` calls). With ``workers = N`` the broker shares
``ersgrid/<site>/segment/+/telemetry`` among N processes (``$share/<group>/…``); each
parses, checks, stores (its own connection to the same database) and answers with the
segment's setpoint. The service process keeps the control: it writes every segment's limit
and setpoint reason and the service clock (the live loop's time, for the telemetry window)
into shared memory at each tick, and reads back when each segment last reported (for stale
devices) and the workers' counters, among them the rows each worker's store has committed.
A worker whose service process has gone (killed) ends by itself.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ersgrid.errors import ServiceError
from ersgrid.service.telemetry import COUNTERS, REASONS, Rejected, mqtt_client, parse_telemetry

_CLOCK = 8  # one float64 slot for the service clock [s since epoch]

if TYPE_CHECKING:
    from ersgrid.service.mqtt import MqttBridge

__all__ = ["IngestPool"]


def _views(buf: Any, n: int, workers: int) -> tuple[npt.NDArray[Any], ...]:
    limits = np.ndarray((n,), np.float64, buf, 0)
    last_seen = np.ndarray((n,), np.float64, buf, 8 * n)
    clock = np.ndarray((1,), np.float64, buf, 16 * n)
    counters = np.ndarray((workers, len(COUNTERS)), np.int64, buf, 16 * n + _CLOCK)
    reasons = np.ndarray((n,), np.int8, buf, 16 * n + _CLOCK + 8 * workers * len(COUNTERS))
    return limits, reasons, last_seen, counters, clock


def _size(n: int, workers: int) -> int:
    return 16 * n + _CLOCK + 8 * workers * len(COUNTERS) + n


class IngestPool:
    """The ingest processes of one bridge and the shared memory they read and write."""

    def __init__(self, bridge: MqttBridge, workers: int) -> None:
        if workers < 1:
            raise ServiceError("ingest workers: at least 1")
        self.bridge = bridge
        self.workers = workers
        self.n = bridge.loop.layout.n_segments
        self._shm = shared_memory.SharedMemory(create=True, size=_size(self.n, workers))
        self._limits, self._reasons, self._last_seen, self._counters, self._clock = _views(
            self._shm.buf, self.n, workers
        )
        self._last_seen[:] = 0.0
        self._counters[:] = 0
        self._ctx = mp.get_context("spawn")  # no fork of a process with threads
        self._stop = self._ctx.Event()
        self._procs: list[Any] = []

    def arrays(
        self,
    ) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.int8], npt.NDArray[np.float64],
        npt.NDArray[np.float64],
    ]:  # fmt: skip
        """Segment limits [kW], reason codes, last-seen times [s, monotonic] and the service
        clock [s since epoch, one element], shared."""
        return self._limits, self._reasons, self._last_seen, self._clock

    def totals(self) -> dict[str, int]:
        """The workers' counters summed."""
        return dict(zip(COUNTERS, (int(v) for v in self._counters.sum(axis=0)), strict=True))

    def start(self) -> None:
        """Start the workers and wait until each has subscribed."""
        b = self.bridge
        store = b.store
        db_url = b.db_url or (store.url if store is not None else None)
        ready = self._ctx.Queue()
        for k in range(self.workers):
            me = b.identities.service if b.identities is not None else None
            login = (me.username, me.password) if me is not None else None
            args = (k, self.workers, self._shm.name, b.host, b.port, b.site,
                    list(b.loop.layout.seg_ids), b.loop.layout.seg_rating_kw.tolist(),
                    b.refresh_s, db_url, self._stop, ready, login, b.window_s,
                    b.max_payload_bytes, os.getpid())  # fmt: skip
            proc = self._ctx.Process(target=_worker, args=args, name=f"ersgrid-ingest-{k}",
                                     daemon=True)  # fmt: skip
            proc.start()
            self._procs.append(proc)
        for _ in self._procs:
            msg = ready.get(timeout=120)
            if msg != "ready":
                raise ServiceError(f"an ingest process failed to start: {msg}")

    def stop(self) -> None:
        """Stop the workers (each flushes its store) and free the shared memory."""
        self._stop.set()
        for proc in self._procs:
            proc.join(20)
            if proc.is_alive():
                proc.terminate()
        self._procs.clear()
        self._shm.unlink()  # the bridge may still hold views; the memory goes with them


def _worker(
    k: int, workers: int, shm_name: str, host: str, port: int, site: str,
    seg_ids: list[str], ratings: list[float], refresh_s: float, db_url: str | None,
    stop: Any, ready: Any, login: tuple[str, str] | None, window_s: float, max_bytes: int,
    parent_pid: int,
) -> None:  # fmt: skip
    """One ingest process: subscribe to the shared topic, parse, store, answer."""
    from ersgrid.service.storage import Store

    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        limits, reasons, last_seen, counters, clock = _views(shm.buf, len(seg_ids), workers)
        mine = counters[k]
        slot = {name: j for j, name in enumerate(COUNTERS)}
        index = {sid: i for i, sid in enumerate(seg_ids)}
        sent_kw = np.full(len(seg_ids), np.nan)
        sent_at = np.zeros(len(seg_ids))
        store = Store(db_url) if db_url else None
        if store is not None:
            store.start()
        setpoint_rows: list[tuple[float, str, float, str]] = []
        lock = threading.Lock()

        def on_message(client: Any, _u: Any, msg: Any) -> None:
            try:
                parts = msg.topic.split("/")
                i = index.get(parts[3]) if len(parts) == 5 else None
                if i is None:
                    mine[slot["unknown_segment"]] += 1
                    return
                try:
                    ts, seq, power, energy, temp = parse_telemetry(
                        msg.payload, ratings[i], float(clock[0]), window_s, max_bytes
                    )
                except Rejected as err:
                    mine[slot[err.reason]] += 1
                    return
                now = time.time()
                last_seen[i] = time.monotonic()
                mine[slot["accepted"]] += 1
                if store is not None:
                    store.add_telemetry([(ts, now, parts[3], power, energy, temp, "mqtt")])
                limit = float(limits[i])
                if limit != sent_kw[i] or now - sent_at[i] >= refresh_s:
                    reason = REASONS[reasons[i]]
                    body = {"ts": now, "limit_kw": round(limit, 3), "reason": reason,
                            "valid_s": 3 * refresh_s, "in_reply_to": seq}  # fmt: skip
                    client.publish(f"ersgrid/{site}/segment/{parts[3]}/setpoint",
                                   json.dumps(body), qos=0)  # fmt: skip
                    sent_kw[i], sent_at[i] = limit, now
                    mine[slot["setpoints_sent"]] += 1
                    with lock:
                        setpoint_rows.append((now, parts[3], limit, reason))
            except Exception:  # a message must never end the worker
                mine[slot["error"]] += 1

        subscribed = threading.Event()
        client = mqtt_client(f"ersgrid-ingest-{k}", *(login or ()))
        client.on_message = on_message
        client.on_subscribe = lambda *_: subscribed.set()
        client.connect(host, port, keepalive=30)
        client.subscribe(f"$share/ersgrid-{site}/ersgrid/{site}/segment/+/telemetry", qos=0)
        client.loop_start()
        if not subscribed.wait(20):
            ready.put("no SUBACK from the broker")
            return
        ready.put("ready")
        while not stop.wait(0.25) and os.getppid() == parent_pid:
            with lock:
                rows, setpoint_rows[:] = list(setpoint_rows), []
            if store is not None and rows:
                store.add_setpoints(rows)
            if store is not None:  # rows the store has committed: acknowledged
                mine[slot["committed"]] = store.rows_written
        client.disconnect()
        client.loop_stop()
        if store is not None:
            store.stop()
            mine[slot["committed"]] = store.rows_written
            store.engine.dispose()
    finally:
        shm.close()
