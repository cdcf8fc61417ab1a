"""``ersgrid serve`` end to end: a real process with its API, store, MQTT and OCPP ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from conftest import IN_CI
from ersgrid.cli import app
from live_server import free_port


def _wait_json(
    url: str, ok: Any, timeout: float = 180, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2, headers=headers).json()
            if ok(last):
                return dict(last)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url}: condition not met, last {last}")


def test_serve_help_names_the_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in [
        "--speed",
        "--host",
        "--port",
        "--db",
        "--mqtt",
        "--ocpp-port",
        "--no-auth",
        "--token-ttl",
        "--tls-cert",
        "--tls-key",
        "--insecure-allow-plaintext-remote",
    ]:
        assert option in result.output


def test_serve_bad_input_exits_2() -> None:
    result = CliRunner().invoke(app, ["serve", "atlantis"])
    assert result.exit_code == 2
    assert "atlantis" in result.output


def test_serve_runs_the_whole_service(tmp_path: Path) -> None:
    port = free_port()
    args = ["serve", "tiny", "--speed", "600", "--port", str(port), "--data-dir", str(tmp_path)]
    if IN_CI:  # the broker is there: run with MQTT and the OCPP CSMS too
        args += ["--mqtt", "mqtt://127.0.0.1:1883", "--ocpp-port", str(free_port()),
                 "--ingest-workers", "1"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "ersgrid.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    printed: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        assert proc.stdout is not None
        while not any("password:" in line for line in printed):  # the first admin, once
            line = proc.stdout.readline()
            assert line, "".join(printed)
            printed.append(line)
        (password,) = [ln.split("password:")[1].strip() for ln in printed if "password:" in ln]
        assert _wait_json(f"{base}/api/health", lambda h: h["ok"])["auth_required"]
        assert httpx.get(f"{base}/api/state").status_code == 401
        token = httpx.post(
            f"{base}/api/token", data={"username": "admin", "password": password}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        health = _wait_json(
            f"{base}/api/status",
            # with MQTT an ingest process stores the telemetry, else the service itself
            lambda h: (
                h["mqtt"]["accepted"] > 0 if IN_CI else h["storage"]["telemetry_rows_written"] > 0
            ),
            headers=auth,
        )
        assert health["loop_running"]
        assert health["observer_errors"] == 0
        if IN_CI:
            assert health["mqtt"]["rejected"] == {}
            assert health["mqtt"]["ingest_workers"] == 1
            assert health["ocpp"]["service_areas"] == ["test-pa"]
        assert health["ledger"]["folder"].startswith(str(tmp_path / "ledger"))  # on by default
        state = httpx.get(f"{base}/api/state", headers=auth).json()
        assert len(state["segments"]) == 16
        assert "<title>ersgrid" in httpx.get(f"{base}/").text
        assert httpx.get(f"{base}/static/plotly.min.js").status_code == 200
        seg = state["segments"][0]["id"]
        deadline = time.monotonic() + 30  # stored a moment after it was accepted
        telemetry = f"{base}/api/segments/{seg}/telemetry?limit=5"
        while len(rows := httpx.get(telemetry, headers=auth).json()) < 5:
            assert time.monotonic() < deadline, rows
            time.sleep(0.2)
        assert {r["segment"] for r in rows} == {seg}
    finally:
        proc.send_signal(signal.SIGINT)
        # read on through the same buffered pipe the password was read from; the process
        # ends after the ledger settles its last period (slow on a loaded machine)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        proc.wait(timeout=90)
    assert proc.returncode == 0, out
    said = "".join(printed) + out
    assert "curl -s -d username=admin" in said
    assert f"--data-dir {tmp_path}" in said  # how to add users
    assert (tmp_path / "ersgrid.db").is_file()
    (ledger,) = (tmp_path / "ledger").iterdir()
    assert (ledger / "ledger.sqlite").is_file()
