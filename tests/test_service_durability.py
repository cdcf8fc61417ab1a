"""``kill -9`` of a real ``ersgrid serve`` while telemetry and ledger appends are under way.

Acknowledged means committed: the service counts a telemetry row in ``mqtt.committed``
(``/api/health``) only once the store's transaction holding it has committed, and a period in
``ledger.periods_settled`` only once its settlement has committed. Whatever the service had
acknowledged when it was killed must be in the databases afterwards, the killed ledger must
verify, and the service must start again on the same data and go on.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from ersgrid.cli import app
from live_server import free_port
from mqtt_broker import SecuredBroker


class _Login:
    """The admin's bearer token, from the password ``ersgrid serve`` prints at its first start
    (the token stays valid across the restart: accounts and the signing key are in the store)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.headers: dict[str, str] | None = None

    def status(self, base: str) -> dict[str, Any]:
        if self.headers is None:
            found = re.search(r"password: (\S+)", self.log.read_text(errors="replace"))
            if found is None:
                raise httpx.HTTPError("no admin password printed yet")
            form = {"username": "admin", "password": found.group(1)}
            token = httpx.post(f"{base}/api/token", data=form, timeout=5).json()["access_token"]
            self.headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(f"{base}/api/status", headers=self.headers, timeout=5)
        answer.raise_for_status()
        return dict(answer.json())


def _health(
    base: str, ok: Any, proc: subprocess.Popen[bytes], timeout: float, login: _Login
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the service ended with {proc.returncode}"
        try:
            last = login.status(base)
            if ok(last):
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"status condition not met, last {last}")


def _rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM telemetry").fetchone()[0])


def _verify(folder: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["ledger", "verify", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output[result.output.index("{") :])
    assert data["ok"]
    return data


def test_kill_9_loses_no_acknowledged_row_or_settled_period(
    tmp_path: Path, mqtt_broker: SecuredBroker
) -> None:
    port = free_port()
    data = tmp_path / "service"
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "ersgrid.cli", "serve", "tiny", "--speed", "600", "--days", "1",
           "--port", str(port), "--data-dir", str(data), "--mqtt", mqtt_broker.url,
           "--mqtt-credentials", str(mqtt_broker.folder), "--ingest-workers", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    login = _Login(log)
    try:
        _health(
            base,
            lambda h: h["mqtt"]["committed"] > 0 and h["ledger"]["periods_settled"] >= 1,
            proc, timeout=240, login=login,
        )  # fmt: skip
        acked = login.status(base)  # still running: kill now
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert acked["mqtt"]["rejected"] == {}
    assert acked["mqtt"]["refused_connections"] == 0
    db = data / "ersgrid.db"
    after_kill = _rows(db)
    assert after_kill >= acked["mqtt"]["committed"] > 0
    (killed,) = (data / "ledger").iterdir()
    report = _verify(killed)
    assert report["periods"] >= acked["ledger"]["periods_settled"] >= 1
    assert report["records"] >= acked["ledger"]["records"] > 0

    # start again on the same data: the store keeps its rows and grows, a new ledger begins
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        again = _health(
            base,
            lambda h: h["mqtt"]["committed"] > 0 and h["ledger"]["periods_settled"] >= 1,
            proc, timeout=240, login=login,
        )  # fmt: skip
        assert again["loop_running"]
        assert again["mqtt"]["rejected"] == {}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 0, log.read_text()
    assert _rows(db) >= after_kill + again["mqtt"]["committed"]
    ledgers = sorted((data / "ledger").iterdir())
    assert len(ledgers) == 2
    assert killed in ledgers
    assert _verify(killed)["periods"] == report["periods"]  # untouched by the restart
    assert _verify(next(p for p in ledgers if p != killed))["periods"] >= 1
