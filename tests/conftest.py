"""Shared fixtures: small scenarios built from the built-in ``tiny``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ersgrid.scenario.loader import _builtin_text, parse_scenario
from ersgrid.scenario.schema import Scenario

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True, scope="session")
def _forecast_model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fitted forecast models (``mpc``) go to one folder per test session, shared by its
    tests: the user's cache is never read or written by the tests."""
    os.environ["ERSGRID_CACHE_DIR"] = str(tmp_path_factory.mktemp("ersgrid-cache"))


@pytest.fixture
def tiny_data() -> dict[str, Any]:
    """The parsed YAML of the built-in ``tiny`` scenario (a fresh copy per test)."""
    data = yaml.safe_load(_builtin_text("tiny"))
    assert isinstance(data, dict)
    return data


@pytest.fixture
def tiny(tiny_data: dict[str, Any]) -> Scenario:
    """The built-in ``tiny`` scenario."""
    return parse_scenario(tiny_data, "tiny")


@pytest.fixture
def mqtt_broker(tiny: Scenario) -> Iterator[Any]:
    """Mosquitto with per-device identities for tiny's segments (site ``tiny``) on a free
    loopback port, its files generated for the test; runs when ``CI=true`` (and fails
    without Mosquitto), skips elsewhere."""
    from ersgrid.scenario.layout import build_layout
    from mqtt_broker import mosquitto_available, secured_broker

    if not IN_CI:
        pytest.skip("Mosquitto tests run in CI (CI=true) with /usr/sbin/mosquitto")
    assert mosquitto_available(), "CI needs the Mosquitto broker (/usr/sbin/mosquitto)"
    with secured_broker("tiny", build_layout(tiny).seg_ids) as broker:
        yield broker
