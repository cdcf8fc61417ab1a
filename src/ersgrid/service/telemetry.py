"""What a device may send: the telemetry payload, its checks, topics and the reject counters.

Shared by the MQTT bridge (:mod:`ersgrid.service.mqtt`) and its ingest processes
(:mod:`ersgrid.service.ingest`), so that both refuse the same messages for the same reasons.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

__all__ = [
    "COUNTERS",
    "MAX_PAYLOAD_BYTES",
    "REASONS",
    "WINDOW_S",
    "Rejected",
    "mqtt_client",
    "parse_telemetry",
    "setpoint_topic",
    "telemetry_topic",
]

TEMPERATURE_RANGE_C = (-50.0, 200.0)
POWER_TOLERANCE = 1.2
"""A reading may exceed the segment's rating by 20 % (meter error, short peaks) [-]."""
WINDOW_S = 3600.0
"""Default telemetry window: a ``ts`` further than this from the service clock is refused [s]."""
MAX_PAYLOAD_BYTES = 4096
"""Largest telemetry payload taken [bytes]; a good message is about 100 bytes."""
REASONS = ("dispatch", "dr", "safe")
"""Setpoint reasons by code (the code is what the shared arrays hold)."""
COUNTERS = ("accepted", "malformed", "schema", "out_of_range", "out_of_window", "too_large",
            "unknown_segment", "error", "setpoints_sent", "committed")  # fmt: skip
"""Per-worker counters kept in shared memory when ingest runs in worker processes
(``committed``: telemetry rows the worker's store has committed)."""


class Rejected(Exception):
    """A telemetry message that was refused; ``reason`` is the counter it goes to."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def telemetry_topic(site: str, segment: str) -> str:
    """Topic on which a segment's power unit publishes telemetry."""
    return f"ersgrid/{site}/segment/{segment}/telemetry"


def setpoint_topic(site: str, segment: str) -> str:
    """Topic on which the service publishes a segment's setpoint."""
    return f"ersgrid/{site}/segment/{segment}/setpoint"


def _number(obj: dict[str, Any], key: str, required: bool) -> float | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise Rejected("schema", f"missing field {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected("schema", f"{key!r} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise Rejected("out_of_range", f"{key!r} is not finite")
    return float(value)


def parse_telemetry(
    payload: bytes,
    rating_kw: float,
    clock_ts: float | None = None,
    window_s: float = WINDOW_S,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> tuple[float, int | None, float, float | None, float | None]:
    """Check a telemetry payload and return its values.

    Payload (JSON object; unknown keys are ignored)::

        {"ts": 1775001600.0,      # measurement time [s since 1970-01-01 UTC], required
         "seq": 42,               # message counter of the device [-], optional
         "power_kw": 182.5,       # grid-side power [kW], road draw positive, required
         "energy_kwh": 10234.7,   # cumulative grid-side meter [kWh], optional
         "temperature_c": 31.2}   # coil / power-unit temperature [°C], optional

    Parameters
    ----------
    payload : bytes
    rating_kw : float [kW]
        Rating of the segment's power unit; ``|power_kw|`` may exceed it by 20 %.
    clock_ts : float [s since epoch], optional
        The service clock (the live loop's time); ``ts`` must lie within ``window_s`` of it.
        Not checked when None.
    window_s : float [s]
        Half-width of the accepted window around ``clock_ts``.
    max_bytes : int [bytes]
        Largest payload taken.

    Returns
    -------
    ts [s], seq, power_kw [kW], energy_kwh [kWh] or None, temperature_c [°C] or None

    Raises
    ------
    Rejected
        ``too_large`` (over ``max_bytes``), ``malformed`` (not a JSON object), ``schema``
        (missing field, wrong type), ``out_of_range`` or ``out_of_window`` (``ts`` too far
        from the service clock).
    """
    if len(payload) > max_bytes:
        raise Rejected("too_large", f"{len(payload)} bytes > {max_bytes}")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise Rejected("malformed", str(err)) from None
    if not isinstance(obj, dict):
        raise Rejected("malformed", "payload is not a JSON object")
    ts = _number(obj, "ts", True)
    power = _number(obj, "power_kw", True)
    energy = _number(obj, "energy_kwh", False)
    temp = _number(obj, "temperature_c", False)
    seq = obj.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise Rejected("schema", "'seq' must be a non-negative integer")
    if ts is None or power is None:  # unreachable: both are required above
        raise Rejected("schema", "missing ts or power_kw")
    if ts <= 0:
        raise Rejected("out_of_range", f"ts = {ts} is not a time")
    if clock_ts is not None and abs(ts - clock_ts) > window_s:
        raise Rejected("out_of_window", f"ts = {ts} is {ts - clock_ts:+.0f} s from the clock")
    if abs(power) > POWER_TOLERANCE * rating_kw:
        raise Rejected("out_of_range", f"power_kw = {power} beyond the rating of {rating_kw} kW")
    if energy is not None and energy < 0:
        raise Rejected("out_of_range", f"energy_kwh = {energy} < 0")
    if temp is not None and not TEMPERATURE_RANGE_C[0] <= temp <= TEMPERATURE_RANGE_C[1]:
        raise Rejected("out_of_range", f"temperature_c = {temp} outside {TEMPERATURE_RANGE_C}")
    return ts, seq, power, energy, temp


def mqtt_client(name: str, username: str | None = None, password: str | None = None) -> Any:
    """A paho-mqtt 2 client speaking MQTT 3.1.1, with a client id unique to this process,
    logging in as ``username`` when given."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{name}-{os.getpid()}-{id(object())}",
        protocol=mqtt.MQTTv311,
    )  # fmt: skip
    if username is not None:
        client.username_pw_set(username, password)
    return client
