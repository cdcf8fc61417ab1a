"""Telemetry in and setpoints out over MQTT (paho-mqtt 2, any 3.1.1 broker such as Mosquitto).

Topic layout (``<site>`` is the scenario name unless given; ``<id>`` a segment id)::

    ersgrid/<site>/segment/<id>/telemetry   device → service, JSON, QoS 0
    ersgrid/<site>/segment/<id>/setpoint    service → device, JSON, QoS 0
    ersgrid/<site>/service/status           "online" / "offline" (retained, last will)

Payload schemas and units are in ``docs/service.md`` and :func:`parse_telemetry`. A message
that is too large, not JSON, misses a field, has a wrong type, names an unknown segment, is
out of range or is stamped too far from the service clock (the live loop's time) is rejected
and counted by reason; nothing in a message can stop the loop.

With :class:`~ersgrid.service.mqtt_auth.Identities` the bridge, its ingest processes and the
twin's devices log in with their own credentials; the broker (its password file and ACL from
``ersgrid mqtt-credentials``) refuses unknown clients and topics not a client's own, and the
bridge counts the connections it refused from the broker's notices on ``$SYS/broker/log/N``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import numpy as np
import numpy.typing as npt

from ersgrid.errors import ServiceError
from ersgrid.service.live import LiveLoop, TickReport
from ersgrid.service.mqtt_auth import Credential, Identities
from ersgrid.service.storage import Store
from ersgrid.service.telemetry import (
    MAX_PAYLOAD_BYTES,
    REASONS,
    WINDOW_S,
    Rejected,
    mqtt_client,
    parse_telemetry,
    setpoint_topic,
    telemetry_topic,
)

__all__ = ["MqttBridge", "Rejected", "TwinDevices", "parse_telemetry", "telemetry_topic"]

FloatArray = npt.NDArray[np.float64]
BROKER_LOG = "$SYS/broker/log/N"
"""Where Mosquitto publishes its notices (with ``log_dest topic``)."""
REFUSED_NOTICE = "disconnected, not authorised"
"""The notice of a connection refused for a bad user name, password or client."""


def _broker(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in {"mqtt", "tcp"} or not parsed.hostname:
        raise ServiceError(f"--mqtt {url!r}: expected mqtt://host:port")
    return parsed.hostname, parsed.port or 1883


class MqttBridge:
    """The service's side of MQTT: ingest telemetry, publish setpoints, watch for silence.

    Parameters
    ----------
    loop : LiveLoop
    url : str
        ``mqtt://host:port`` of the broker.
    site : str
        Site name in topics.
    store : Store, optional
        Where accepted telemetry and sent setpoints go.
    stale_after_s : float [s]
        Wall-clock silence after which a device that has reported counts as stale: its
        segment goes to the loop's safe limit and a ``device_stale`` alarm is raised.
    refresh_s : float [s]
        A device's telemetry is answered with its setpoint when the setpoint changed or the
        last one sent is older than this.
    publish_twin : bool
        Also run :class:`TwinDevices`: the twin's power units publish their telemetry.
    workers : int
        0: ingest in this process. N > 0: N ingest processes share the telemetry topics
        (MQTT shared subscription), each parsing, storing (to ``db_url``) and answering with
        setpoints from limits this process publishes in shared memory.
    db_url : str, optional
        Store URL for the ingest processes.
    identities : Identities, optional
        Credentials of the service (bridge and ingest processes) and of the twin's devices;
        anonymous when not given.
    window_s : float [s]
        Telemetry whose ``ts`` is further than this from the live loop's clock is rejected
        (``out_of_window``).
    max_payload_bytes : int [bytes]
        Larger telemetry payloads are rejected (``too_large``).
    """

    def __init__(
        self,
        loop: LiveLoop,
        url: str,
        site: str,
        store: Store | None = None,
        stale_after_s: float = 10.0,
        refresh_s: float = 1.0,
        publish_twin: bool = True,
        workers: int = 0,
        db_url: str | None = None,
        identities: Identities | None = None,
        window_s: float = WINDOW_S,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.loop = loop
        self.host, self.port = _broker(url)
        self.site = site
        self.store = store
        self.stale_after_s = float(stale_after_s)
        self.refresh_s = float(refresh_s)
        self.db_url = db_url
        self.identities = identities
        self.window_s = float(window_s)
        self.max_payload_bytes = int(max_payload_bytes)
        lay = loop.layout
        self._index = {sid: i for i, sid in enumerate(lay.seg_ids)}
        self._rating = lay.seg_rating_kw.copy()
        n = lay.n_segments
        self.workers = int(workers)
        self._pool: Any = None
        if self.workers > 0:
            from ersgrid.service.ingest import IngestPool

            self._pool = IngestPool(self, self.workers)
            self._limits, self._reasons, self._last_seen, self._clock = self._pool.arrays()
        else:
            self._limits = np.empty(n)
            self._reasons = np.zeros(n, dtype=np.int8)
            self._last_seen = np.zeros(n)  # monotonic [s]; 0 = never reported
            self._clock = np.zeros(1)
        self._limits[:] = lay.seg_rating_kw
        self._clock[0] = loop.now.timestamp()  # the service clock [s since epoch]
        self._sent_kw = np.full(n, np.nan)
        self._sent_at = np.zeros(n)
        self._stale: set[int] = set()
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.setpoints_sent = 0
        self.refused_connections = 0
        """Connections the broker refused (bad user, password or client), from its notices."""
        self.connect_refused: str | None = None
        self._setpoint_rows: list[tuple[float, str, float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._client: Any = None
        self.connected = threading.Event()
        twin_id = identities.twin if identities is not None else None
        self.twin = TwinDevices(loop, url, site, twin_id) if publish_twin else None
        loop.observers.append(self._on_tick)

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Connect, subscribe and start the watchdog; raises ServiceError if unreachable."""
        me = self.identities.service if self.identities is not None else None
        client = mqtt_client("ersgrid-service", *((me.username, me.password) if me else ()))
        client.will_set(f"ersgrid/{self.site}/service/status", "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as err:
            raise ServiceError(
                f"cannot reach the MQTT broker at {self.host}:{self.port}: {err}; "
                "start Mosquitto or leave out --mqtt"
            ) from None
        client.loop_start()
        self._client = client
        if not self.connected.wait(10):
            client.loop_stop()
            self._client = None
            if self.connect_refused is not None:
                raise ServiceError(
                    f"the MQTT broker at {self.host}:{self.port} refused the service: "
                    f"{self.connect_refused}; give the credentials the broker knows "
                    "(--mqtt-credentials DIR from `ersgrid mqtt-credentials`)"
                )
            raise ServiceError(f"the MQTT broker at {self.host}:{self.port} did not answer")
        if self._pool is not None:
            self._pool.start()
        self._stop.clear()
        self._watchdog = threading.Thread(target=self._watch, name="ersgrid-mqtt-watch",
                                          daemon=True)  # fmt: skip
        self._watchdog.start()
        if self.twin is not None:
            self.twin.start()

    def stop(self) -> None:
        """Disconnect cleanly (the status goes to offline)."""
        self._stop.set()
        if self.twin is not None:
            self.twin.stop()
        if self._watchdog is not None:
            self._watchdog.join(5)
        if self._pool is not None:
            self._pool.stop()
        if self._client is not None:
            self._client.publish(f"ersgrid/{self.site}/service/status", "offline", 1, True)
            self._client.disconnect()
            self._client.loop_stop()
        self._flush_setpoints()

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.connect_refused = str(reason)
            client.disconnect()  # no retry with credentials the broker refused
            return
        if self._pool is None:  # otherwise the ingest processes subscribe
            client.subscribe(f"ersgrid/{self.site}/segment/+/telemetry", qos=0)
        if self.identities is not None:
            client.subscribe(BROKER_LOG, qos=0)
        client.publish(f"ersgrid/{self.site}/service/status", "online", qos=1, retain=True)
        self.connected.set()

    # ---- hot path -----------------------------------------------------------------------
    def _on_message(self, client: Any, _u: Any, msg: Any) -> None:
        try:
            self._ingest(client, msg.topic, msg.payload)
        except Exception:  # a message must never take the network thread down
            self.rejected["error"] += 1

    def _ingest(self, client: Any, topic: str, payload: bytes) -> None:
        if topic == BROKER_LOG:
            if REFUSED_NOTICE.encode() in payload:
                self.refused_connections += 1
            return
        parts = topic.split("/")
        i = self._index.get(parts[3]) if len(parts) == 5 else None
        if i is None:
            self.rejected["unknown_segment"] += 1
            return
        try:
            ts, seq, power, energy, temp = parse_telemetry(
                payload, float(self._rating[i]), float(self._clock[0]), self.window_s,
                self.max_payload_bytes,
            )  # fmt: skip
        except Rejected as err:
            self.rejected[err.reason] += 1
            return
        now = time.time()
        self._last_seen[i] = time.monotonic()
        self.accepted += 1
        if self.store is not None:
            self.store.add_telemetry([(ts, now, parts[3], power, energy, temp, "mqtt")])
        if i in self._stale:
            self._recover(i)
        limit = float(self._limits[i])
        if limit != self._sent_kw[i] or now - self._sent_at[i] >= self.refresh_s:
            self._send(client, i, limit, now, seq)

    def _send(self, client: Any, i: int, limit: float, now: float, seq: int | None) -> None:
        sid = self.loop.layout.seg_ids[i]
        reason = REASONS[self._reasons[i]]
        body = {"ts": now, "limit_kw": round(limit, 3), "reason": reason,
                "valid_s": 3 * self.refresh_s, "in_reply_to": seq}  # fmt: skip
        client.publish(setpoint_topic(self.site, sid), json.dumps(body), qos=0)
        self._sent_kw[i], self._sent_at[i] = limit, now
        self.setpoints_sent += 1
        with self._lock:
            self._setpoint_rows.append((now, sid, limit, reason))

    # ---- loop side ----------------------------------------------------------------------
    def _on_tick(self, report: TickReport) -> None:
        """New limits from the loop: share curtailed substation limits, push changes.

        Where a substation's road limit is below its rating (a DR cap or the strategy
        curtails it), its limit is shared among its segments in proportion to their
        present power plus 5 % of their limit, capped at each segment's limit, so the
        setpoints never add up to more than the substation may draw. Elsewhere a segment's
        setpoint is its own limit and the substation's protection shares the rest.
        """
        lay = self.loop.layout
        self._clock[0] = report.time.timestamp()
        seg, sub = report.seg_limit_kw, report.sub_limit_kw
        binding = sub < lay.sub_rating_kw - 1e-9
        weight = report.seg_power_kw + 0.05 * seg
        wsum = np.bincount(lay.seg_substation, weights=weight, minlength=lay.n_substations)
        share = sub[lay.seg_substation] * weight / np.maximum(wsum[lay.seg_substation], 1e-9)
        limits = np.where(binding[lay.seg_substation], np.minimum(seg, share), seg)
        dr_binds = np.isfinite(self.loop.import_caps_kw(report.time)) & binding
        reasons = np.where(dr_binds[lay.seg_substation], 1, 0).astype(np.int8)
        reasons[list(self._stale)] = 2
        self._limits[:], self._reasons[:] = limits, reasons
        client = self._client
        if client is None:
            return
        now = time.time()
        changed = np.flatnonzero((self._last_seen > 0) & (np.abs(limits - self._sent_kw) > 1e-6))
        for i in changed:
            self._send(client, int(i), float(limits[i]), now, None)

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            mono = time.monotonic()
            silent = np.flatnonzero(
                (self._last_seen > 0) & (mono - self._last_seen > self.stale_after_s)
            )
            for i in silent:
                if int(i) not in self._stale:
                    self._go_stale(int(i))
            for back in list(self._stale):  # reported again (through an ingest process)
                if mono - self._last_seen[back] <= self.stale_after_s:
                    self._recover(back)
            self._flush_setpoints()

    def _go_stale(self, i: int) -> None:
        sid = self.loop.layout.seg_ids[i]
        self._stale.add(i)
        self.loop.set_safe(i, True)
        self.loop.alarms.raise_alarm(
            "device_stale", sid,
            f"no telemetry from {sid} for {self.stale_after_s:g} s; segment held at the safe "
            f"limit of {self.loop.safe_limit_kw:g} kW", "critical", "mqtt",
        )  # fmt: skip
        self._reasons[i] = 2
        self._limits[i] = min(float(self._limits[i]), self.loop.safe_limit_kw)
        if self._client is not None:
            self._send(self._client, i, float(self._limits[i]), time.time(), None)

    def _recover(self, i: int) -> None:
        self._stale.discard(i)
        self.loop.set_safe(i, False)
        self.loop.alarms.clear("device_stale", self.loop.layout.seg_ids[i])
        self._limits[i] = float(self.loop.effective_limits()[0][i])  # refined at the next tick
        self._reasons[i] = 0

    def _flush_setpoints(self) -> None:
        with self._lock:
            rows, self._setpoint_rows = self._setpoint_rows, []
        if self.store is not None and rows:
            try:
                self.store.add_setpoints(rows)
            except Exception:
                self.store.write_errors += 1

    def status(self) -> dict[str, Any]:
        """Counters for /api/health and the dashboard."""
        accepted, rejected, sent = self.accepted, Counter(self.rejected), self.setpoints_sent
        committed = self.store.rows_written if self.store is not None else 0
        if self._pool is not None:
            totals = self._pool.totals()
            accepted += totals.pop("accepted")
            sent += totals.pop("setpoints_sent")
            committed = totals.pop("committed")
            rejected.update({k: v for k, v in totals.items() if v})
        return {
            "broker": f"{self.host}:{self.port}",
            "site": self.site,
            "connected": bool(self._client is not None and self._client.is_connected()),
            "ingest_workers": self.workers,
            "accepted": accepted,
            "committed": committed,
            "rejected": dict(rejected),
            "window_s": self.window_s,
            "authenticated": self.identities is not None,
            "refused_connections": self.refused_connections,
            "setpoints_sent": sent,
            "devices": int((self._last_seen > 0).sum()),
            "segments": self.loop.layout.n_segments,
            "last_message_s_ago": round(time.monotonic() - float(self._last_seen.max()), 1)
            if (self._last_seen > 0).any()
            else None,
            "stale": sorted(self.loop.layout.seg_ids[i] for i in self._stale),
            "twin": None if self.twin is None else self.twin.status(),
        }


class TwinDevices:
    """The twin's power units as MQTT devices: each tick, every segment publishes telemetry.

    Parameters
    ----------
    loop : LiveLoop
    url : str
        ``mqtt://host:port`` of the broker.
    site : str
        Site name in topics.
    credential : Credential, optional
        The twin's identity (``ersgrid-twin``: the telemetry topics of every segment).
    """

    def __init__(
        self, loop: LiveLoop, url: str, site: str, credential: Credential | None = None
    ) -> None:
        self.loop = loop
        self.credential = credential
        self.connects = 0
        self.connect_refused = 0
        """CONNACKs that refused the twin's devices (bad or missing credentials)."""
        self.last_refusal: str | None = None
        self.host, self.port = _broker(url)
        self.site = site
        self._client: Any = None
        self._energy = np.zeros(loop.layout.n_segments)
        self._seq = 0
        self.paused: set[str] = set()
        """Segments whose device is silenced (to exercise stale-device handling)."""
        self.published = 0
        loop.observers.append(self._on_tick)

    def start(self) -> None:
        """Connect as the devices."""
        cred = self.credential
        client = mqtt_client("ersgrid-twin", *((cred.username, cred.password) if cred else ()))
        client.on_connect = self._on_connect
        client.connect(self.host, self.port, keepalive=30)
        client.loop_start()
        self._client = client

    def stop(self) -> None:
        """Disconnect."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.connect_refused += 1
            self.last_refusal = str(reason)
        else:
            self.connects += 1

    def status(self) -> dict[str, Any]:
        """Messages published, connections made and refused."""
        return {
            "published": self.published,
            "connects": self.connects,
            "connect_refused": self.connect_refused,
            "last_refusal": self.last_refusal,
        }

    def _on_tick(self, report: TickReport) -> None:
        client = self._client
        if client is None:
            return
        r = report.readings
        self._energy += r.seg_grid_kwh
        kw = r.seg_grid_kwh / (report.duration_s / 3600.0)
        ts = report.time.timestamp()
        self._seq += 1
        for i, sid in enumerate(self.loop.layout.seg_ids):
            if sid in self.paused:
                continue
            body = {"ts": ts, "seq": self._seq, "power_kw": round(float(kw[i]), 3),
                    "energy_kwh": round(float(self._energy[i]), 4),
                    "temperature_c": round(float(r.seg_temperature_c[i]), 2)}  # fmt: skip
            client.publish(telemetry_topic(self.site, sid), json.dumps(body), qos=0)
            self.published += 1
