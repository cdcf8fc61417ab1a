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
    "REASONS",
    "Rejected",
    "mqtt_client",
    "parse_telemetry",
    "setpoint_topic",
    "telemetry_topic",
]

TEMPERATURE_RANGE_C = (-50.0, 200.0)
POWER_TOLERANCE = 1.2
REASONS = ("dispatch", "dr", "safe")
"""Setpoint reasons by code (the code is what the shared arrays hold)."""
COUNTERS = ("accepted", "malformed", "schema", "out_of_range", "unknown_segment", "error",
            "setpoints_sent")  # fmt: skip
"""Per-worker counters kept in shared memory when ingest runs in worker processes."""
"""A reading may exceed the segment's rating by 20 % (meter error, short peaks) [-]."""


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
    payload: bytes, rating_kw: float
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

    Returns
    -------
    ts [s], seq, power_kw [kW], energy_kwh [kWh] or None, temperature_c [°C] or None

    Raises
    ------
    Rejected
        ``malformed`` (not a JSON object), ``schema`` (missing field, wrong type) or
        ``out_of_range``.
    """
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
    if abs(power) > POWER_TOLERANCE * rating_kw:
        raise Rejected("out_of_range", f"power_kw = {power} beyond the rating of {rating_kw} kW")
    if energy is not None and energy < 0:
        raise Rejected("out_of_range", f"energy_kwh = {energy} < 0")
    if temp is not None and not TEMPERATURE_RANGE_C[0] <= temp <= TEMPERATURE_RANGE_C[1]:
        raise Rejected("out_of_range", f"temperature_c = {temp} outside {TEMPERATURE_RANGE_C}")
    return ts, seq, power, energy, temp


def mqtt_client(name: str) -> Any:
    """A paho-mqtt 2 client speaking MQTT 3.1.1, with a client id unique to this process."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    return mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{name}-{os.getpid()}-{id(object())}",
        protocol=mqtt.MQTTv311,
    )  # fmt: skip
