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
from hypothesis import HealthCheck, given, settings
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

EXAMPLES = 10
"""Generated requests per operation."""
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


def test_api_conforms_to_its_description(live: tuple[str, dict[str, str]]) -> None:
    url, headers = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/stream":
            continue  # the live stream never ends
        if operation.path == "/api/users/{name}":
            continue  # removing or demoting "admin" would lock the run out

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def conforms(case: Any) -> None:
            case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=60)

        conforms()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 25, tested
