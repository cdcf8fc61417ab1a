"""The live service against its own OpenAPI description (schemathesis): generated requests to
every operation, logged in as admin, give no server error and no answer outside the
description (status code, content type, headers, body schema)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ersgrid.scenario.loader import load_scenario
from ersgrid.service.app import Service
from ersgrid.service.live import LiveLoop
from ersgrid.service.studies import Studies
from live_server import login, running_service, secure

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    folder: Path = tmp_path_factory.mktemp("schema")
    loop = LiveLoop(load_scenario("tiny"), days=1.0, speed=60.0)
    service = Service(loop=loop, studies=Studies(folder / "runs"))
    secure(service, folder)
    with running_service(service) as url, httpx.Client(base_url=url) as client:
        yield url, login(client, "admin")


@pytest.fixture(scope="module")
def api_schema(live: tuple[str, dict[str, str]]) -> Any:
    url, _ = live
    # the live stream never ends; a user's removal could lock the test out
    return (
        schemathesis.openapi.from_url(f"{url}/openapi.json")
        .exclude(path="/api/stream")
        .exclude(method="DELETE", path="/api/users/{name}")
        .exclude(method="PATCH", path="/api/users/{name}")
    )


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_description(case: Any, live: tuple[str, dict[str, str]]) -> None:
    _, headers = live
    case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
