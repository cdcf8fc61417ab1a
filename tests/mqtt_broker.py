"""A Mosquitto broker with per-device identities on a free loopback port, for tests.

Its password file, ACL and config are generated for the test by
:func:`ersgrid.service.mqtt_auth.write_credentials` (nothing secret is committed); the broker
is the system's ``/usr/sbin/mosquitto``, stopped when the test ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ersgrid.service.mqtt_auth import Credential, Identities, device_user, write_credentials

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SecuredBroker:
    """A running broker: its URL, the folder of its files and the identities in it."""

    url: str
    port: int
    folder: Path
    site: str
    process: subprocess.Popen[bytes]

    @property
    def identities(self) -> Identities:
        """What the service logs in with (``service.json``, ``twin.json``)."""
        return Identities.from_dir(self.folder)

    def device(self, segment: str) -> Credential:
        """The credential of a segment's device."""
        data: dict[str, Any] = json.loads((self.folder / "devices" / f"{segment}.json").read_text())
        assert data["username"] == device_user(segment)
        return Credential(data["username"], data["password"])

    def log(self) -> str:
        """What the broker wrote to stderr so far."""
        return (self.folder / "broker.log").read_text(errors="replace")


def mosquitto_available() -> bool:
    """Whether the Mosquitto broker binary is installed."""
    return os.access(MOSQUITTO, os.X_OK)


@contextmanager
def secured_broker(site: str, seg_ids: Sequence[str]) -> Iterator[SecuredBroker]:
    """Start Mosquitto with generated credentials for ``seg_ids``; stop it afterwards."""
    # a folder the broker's own user can pass through when it drops root (pytest's are 0700)
    folder = Path(tempfile.mkdtemp(prefix="ersgrid-mqtt-"))
    port = free_port()
    root = os.geteuid() == 0
    write_credentials(folder, site, seg_ids, port=port, broker_user="mosquitto" if root else None)
    log = open(folder / "broker.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([MOSQUITTO, "-c", str(folder / "mosquitto.conf")], stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        "mosquitto did not start: " + (folder / "broker.log").read_text()
                    ) from None
                time.sleep(0.05)
        yield SecuredBroker(f"mqtt://127.0.0.1:{port}", port, folder, site, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
