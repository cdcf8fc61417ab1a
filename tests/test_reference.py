"""Regression against stored reference results of the twin (uncontrolled, fixed seed).

The twin's figures depend only on the scenario, the seed and the twin; a change here is a
change of behaviour. If it is intended, regenerate with
``python tests/test_reference.py`` and say why in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ersgrid import run

REFERENCE = Path(__file__).parent / "reference" / "tiny_uncontrolled_day.json"
KEYS = ("energy_delivered_kwh", "road_energy_kwh", "losses_kwh", "trips", "unmet_energy_kwh",
        "trips_below_target", "vehicle_steps", "peak_road_kw")  # fmt: skip


def _figures() -> dict[str, float]:
    kpis = run("tiny", days=1).kpis
    return {k: kpis[k] for k in KEYS}


def test_tiny_matches_reference() -> None:
    stored = json.loads(REFERENCE.read_text())
    got = _figures()
    for key in KEYS:
        assert got[key] == pytest.approx(stored[key], rel=1e-9), key


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps(_figures(), indent=2) + "\n")
    sys.stdout.write(f"wrote {REFERENCE}\n")
