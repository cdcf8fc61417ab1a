"""Who may do what on the API, checked on every route of the app's own route table."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ersgrid.cli import app as cli_app
from ersgrid.errors import ServiceError
from ersgrid.scenario.loader import load_scenario
from ersgrid.service.app import Service, create_app
from ersgrid.service.auth import Auth, _FailureWindow
from ersgrid.service.csms import Csms
from ersgrid.service.live import LiveLoop
from ersgrid.service.server import check_bind
from ersgrid.service.storage import Store
from ersgrid.service.studies import Studies
from live_server import PASSWORDS, login, secure

PUBLIC = {("GET", "/api/health"), ("POST", "/api/token")}
"""The routes in the OpenAPI description open to anyone."""
ADMIN_ONLY = re.compile(r"^(/api/clock|/api/users)")
"""Paths whose every operation needs an admin; and POST /api/faults."""
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class Clock:
    """A clock the test moves [s since epoch]."""

    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("auth")
    loop = LiveLoop(load_scenario("tiny"), days=1.0, speed=60.0)  # never started
    svc = Service(loop=loop, studies=Studies(folder / "runs"))
    svc.extras["ocpp"] = Csms(loop, port=0)  # adds /api/chargers; not started
    secure(svc, folder)
    yield svc
    svc.studies.shutdown()


@pytest.fixture(scope="module")
def client(service: Service) -> TestClient:
    return TestClient(create_app(service))


@pytest.fixture(scope="module")
def tokens(client: TestClient) -> dict[str, dict[str, str]]:
    return {role: login(client, role) for role in PASSWORDS}


def operations(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path with its parameters filled, path template) of every operation of the
    app's route table, as its OpenAPI description lists them (so a new route is in)."""
    app = client.app
    assert isinstance(app, FastAPI)
    out = []
    for template, ops in app.openapi()["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        out += [(method.upper(), path, template) for method in sorted(ops)]
    assert len(out) > 25  # the table is the real one, not an empty list
    return out


def _needs(method: str, path: str) -> str:
    if ADMIN_ONLY.match(path) or (method, path) == ("POST", "/api/faults"):
        return "admin"
    return "operator" if method in WRITES else "viewer"


def test_every_route_but_health_and_login_needs_a_credential(client: TestClient) -> None:
    for method, path, template in operations(client):
        if (method, template) in PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            resp = client.request(method, path, headers=headers)
            assert resp.status_code == 401, (method, path, headers, resp.text)
            assert resp.headers["www-authenticate"] == "Bearer"


def test_each_role_gets_403_where_it_lacks_the_rights(
    client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    checked = {"viewer": 0, "operator": 0}
    for method, path, template in operations(client):
        if (method, template) in PUBLIC:
            continue
        needs = _needs(method, template)
        for role in ("viewer", "operator"):
            if role == needs or (role, needs) == ("operator", "viewer"):
                continue
            resp = client.request(method, path, headers=tokens[role])
            assert resp.status_code == 403, (role, method, path, resp.text)
            checked[role] += 1
    assert checked["viewer"] >= 10
    assert checked["operator"] >= 6


def test_every_role_may_read_and_the_right_roles_may_write(
    client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    for method, path, template in operations(client):
        if (method, template) in PUBLIC or template == "/api/stream":
            continue  # the stream never ends: its 401 is checked above
        needs = _needs(method, template)
        role = needs
        resp = client.request(method, path, headers=tokens[role])
        # allowed: whatever the route says of the (empty) request, never 401 or 403
        assert resp.status_code not in (401, 403), (role, method, path, resp.text)


def test_the_openapi_description_declares_the_auth_errors(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "bearer" in doc["components"]["securitySchemes"]
    for method, _path, template in operations(client):
        responses = doc["paths"][template][method.lower()]["responses"]
        if (method, template) in PUBLIC:
            assert "401" not in responses or template == "/api/token"
            continue
        assert "401" in responses, (method, template)
        if _needs(method, template) != "viewer":
            assert "403" in responses, (method, template)
    assert "429" in doc["paths"]["/api/token"]["post"]["responses"]


def test_docs_pages_come_from_local_assets(client: TestClient) -> None:
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = client.get(page).text
        (url,) = re.findall(rf'"(/static-docs/{re.escape(asset)})"', html)
        assert client.get(url).status_code == 200
        assert "cdn." not in html


def test_tokens_expire(service: Service) -> None:
    clock = Clock()
    auth = Auth(service.auth.store, token_ttl_s=600, clock=clock)  # type: ignore[union-attr]
    who = auth.login("viewer", PASSWORDS["viewer"], "127.0.0.1")
    token = auth.issue(who)
    clock.now += 599
    assert auth.verify(token).name == "viewer"
    clock.now += 2
    with pytest.raises(ServiceError, match="expired"):
        auth.verify(token)


def test_an_expired_token_is_401_on_the_api(service: Service, client: TestClient) -> None:
    assert service.auth is not None
    who = service.auth.login("operator", PASSWORDS["operator"], "127.0.0.1")
    old = service.auth.issue(who, ttl_s=-1)
    resp = client.get("/api/state", headers={"Authorization": f"Bearer {old}"})
    assert resp.status_code == 401
    assert "expired" in resp.json()["detail"]


def test_failed_logins_are_limited_then_429_and_logged(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    auth = Auth(service.auth.store, clock=clock)  # type: ignore[union-attr]
    app = create_app(Service(loop=service.loop, studies=service.studies, auth=auth))
    client = TestClient(app)
    wrong = {"username": "operator", "password": "not-the-password"}
    with caplog.at_level(logging.WARNING, logger="ersgrid.service.auth"):
        for _ in range(5):
            assert client.post("/api/token", data=wrong).status_code == 401
        right = {"username": "operator", "password": PASSWORDS["operator"]}
        resp = client.post("/api/token", data=right)  # even the right password now
    assert resp.status_code == 429
    assert 0 < int(resp.headers["retry-after"]) <= 61
    assert sum("failed login of 'operator'" in r.message for r in caplog.records) == 5
    # the same client address is throttled for another user too
    other = {"username": "viewer", "password": PASSWORDS["viewer"]}
    assert client.post("/api/token", data=other).status_code == 429
    # and the user from another address
    with pytest.raises(ServiceError, match="too many failed logins"):
        auth.login("operator", PASSWORDS["operator"], "192.0.2.7")
    assert auth.login("viewer", PASSWORDS["viewer"], "192.0.2.7").role == "viewer"
    clock.now += 61  # the window has passed
    assert client.post("/api/token", data=right).status_code == 200


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 300, allow_nan=False), max_size=30).map(sorted))
def test_failure_window_counts_the_last_minute(times: list[float]) -> None:
    now = [0.0]
    window = _FailureWindow(limit=5, window_s=60.0, clock=lambda: now[0])
    for t in times:
        now[0] = t
        window.fail(["user:x"])
    now[0] = (times[-1] if times else 0.0) + 1.0
    recent = [t for t in times if t > now[0] - 60.0]
    wait = window.retry_after_s(["user:x"])
    assert (wait > 0) == (len(recent) >= 5)
    if wait > 0:
        now[0] += wait + 1e-9
        assert window.retry_after_s(["user:x"]) == 0


def test_users_survive_a_restart_and_removal_revokes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ersgrid.db'}"
    first = Auth(Store(url))
    admin_password = first.ensure_admin()
    assert admin_password is not None
    assert first.ensure_admin() is None  # only when there is no account
    password = first.add_user("anna", "operator")
    token = first.issue(first.login("anna", password, "127.0.0.1"))
    again = Auth(Store(url))  # a new service process over the same store
    assert again.verify(token).role == "operator"  # the signing key is kept too
    again.update_user("anna", role="viewer")
    assert again.verify(token).role == "viewer"  # the role is read at each request
    again.remove_user("anna")
    with pytest.raises(ServiceError, match="no longer exists"):
        again.verify(token)
    with pytest.raises(ServiceError, match="last admin"):
        again.remove_user("admin")
    # another process's change reaches a running service within its user cache
    clock = [time.time()]
    third = Auth(Store(url), user_cache_s=1.0, clock=lambda: clock[0])
    bert = third.issue(third.login("admin", admin_password, "127.0.0.1"))
    assert third.verify(bert).role == "admin"
    again.add_user("carl", "admin")
    again.update_user("admin", role="viewer")
    clock[0] += 0.9
    assert third.verify(bert).role == "admin"  # still the cached account
    clock[0] += 0.2
    assert third.verify(bert).role == "viewer"
    assert "argon2id" in Store(url).get_user("admin")["password_hash"]  # type: ignore[index]


def test_admin_adds_a_user_over_the_api(client: TestClient, tokens: dict[str, Any]) -> None:
    resp = client.post("/api/users", json={"name": "shift-b", "role": "operator"},
                       headers=tokens["admin"])  # fmt: skip
    assert resp.status_code == 201
    password = resp.json()["password"]
    token = client.post("/api/token", data={"username": "shift-b", "password": password})
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json() == {"name": "shift-b", "role": "operator"}
    names = [u["name"] for u in client.get("/api/users", headers=tokens["admin"]).json()]
    assert "shift-b" in names
    assert all("password_hash" not in u for u in client.get("/api/users",
               headers=tokens["admin"]).json())  # fmt: skip
    dup = client.post("/api/users", json={"name": "shift-b"}, headers=tokens["admin"])
    assert dup.status_code == 409
    assert client.delete("/api/users/shift-b", headers=tokens["admin"]).status_code == 200
    assert client.delete("/api/users/shift-b", headers=tokens["admin"]).status_code == 404


def test_an_ack_is_in_the_name_of_the_user(client: TestClient, tokens: dict[str, Any]) -> None:
    alarm = client.post("/api/alarms", json={"message": "door open"}, headers=tokens["operator"])
    acked = client.post(f"/api/alarms/{alarm.json()['id']}/ack", headers=tokens["operator"])
    assert acked.json()["acknowledged_by"] == "operator"


@pytest.mark.parametrize(
    ("host", "auth", "tls", "plain", "message"),
    [
        ("0.0.0.0", True, False, False, "--tls-cert"),
        ("192.0.2.1", False, True, False, "authentication"),
        ("0.0.0.0", False, False, True, "authentication"),
        ("::", True, False, False, "--insecure-allow-plaintext-remote"),
    ],
)
def test_a_remote_host_needs_auth_and_tls(
    tmp_path: Path, host: str, auth: bool, tls: bool, plain: bool, message: str
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("-")
    key.write_text("-")
    with pytest.raises(ServiceError, match=re.escape(message)):
        check_bind(host, auth, cert if tls else None, key if tls else None, plain)


def test_loopback_or_auth_tls_or_the_explicit_flag_may_start(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("-")
    key.write_text("-")
    check_bind("127.0.0.1", auth=False)
    check_bind("::1", auth=True)
    check_bind("localhost", auth=False)
    check_bind("0.0.0.0", auth=True, tls_cert=cert, tls_key=key)
    check_bind("0.0.0.0", auth=True, allow_plaintext_remote=True)
    with pytest.raises(ServiceError, match="both"):
        check_bind("127.0.0.1", auth=True, tls_cert=cert)


def test_serve_refuses_a_remote_host_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app, ["serve", "tiny", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--tls-cert" in result.output
    assert not (tmp_path / "ersgrid.db").exists()  # refused before anything was built


def test_users_command_adds_a_user_the_service_knows(tmp_path: Path) -> None:
    Auth(Store(f"sqlite:///{tmp_path / 'ersgrid.db'}")).ensure_admin()
    runner = CliRunner()
    added = runner.invoke(
        cli_app, ["users", "add", "bo", "--role", "operator", "--data-dir", str(tmp_path)]
    )
    assert added.exit_code == 0, added.output
    password = added.output.split("password: ")[1].split()[0]
    auth = Auth(Store(f"sqlite:///{tmp_path / 'ersgrid.db'}"))
    assert auth.login("bo", password, "127.0.0.1").role == "operator"
    listed = runner.invoke(cli_app, ["users", "list", "--data-dir", str(tmp_path)])
    assert re.search(r"^bo\s+operator\s", listed.output, re.M)
    bad = runner.invoke(cli_app, ["users", "add", "cy", "--role", "king",
                                  "--data-dir", str(tmp_path)])  # fmt: skip
    assert bad.exit_code == 2
    assert "unknown role 'king'" in bad.output
    missing = runner.invoke(cli_app, ["users", "list", "--data-dir", str(tmp_path / "none")])
    assert missing.exit_code == 2
    assert "--data-dir" in missing.output
