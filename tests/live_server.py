"""A real uvicorn server on 127.0.0.1 in a background thread, for end-to-end service tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ersgrid.service.app import Service, create_app
from ersgrid.service.auth import ROLES, Auth
from ersgrid.service.storage import Store

PASSWORDS = {role: f"{role}-password-for-tests" for role in ROLES}
"""One user per role, named after it, with these passwords (see :func:`secure`)."""


def secure(service: Service, folder: Path, **auth_kw: Any) -> Auth:
    """Turn authentication on: a SQLite store in ``folder`` with one user per role."""
    store = service.extras.get("storage") or Store(f"sqlite:///{folder / 'auth.db'}")
    service.auth = Auth(store, **auth_kw)
    for role, password in PASSWORDS.items():
        service.auth.add_user(role, role, password)
    return service.auth


def login(client: httpx.Client | Any, role: str) -> dict[str, str]:
    """Log the user of ``role`` in with ``client`` (httpx or a TestClient at the service);
    returns the header that carries the token."""
    resp = client.post("/api/token", data={"username": role, "password": PASSWORDS[role]})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_service(service: Service) -> Iterator[str]:
    """Serve ``service`` on a free loopback port with its loop running; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    for adapter in service.extras.values():
        if hasattr(adapter, "start"):
            adapter.start()
    service.loop.start()
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        service.loop.stop()
        for adapter in service.extras.values():
            if hasattr(adapter, "stop"):
                adapter.stop()
        service.studies.shutdown()
