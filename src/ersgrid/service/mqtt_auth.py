"""MQTT identities: per-device credentials, the broker's password file and ACL.

Every segment's power unit gets its own user, allowed to publish only its own telemetry
topic and to read only its own setpoint topic; the service has its own user (all of the
site's topics, and the broker's log on ``$SYS/broker/log/#`` to count refused connections);
the twin's simulated power units share one user that may publish the telemetry of every
segment of the site (they stand in for the real devices and run inside the service).

:func:`write_credentials` writes, for a scenario, the files Mosquitto 2 reads
(``passwd`` with PBKDF2-SHA512 hashes in Mosquitto's ``$7$`` format, ``acl``,
``mosquitto.conf``) and one JSON credential file per identity (``service.json``,
``twin.json``, ``devices/<segment>.json``). Passwords are random (``secrets``, 24 bytes); the
files holding them or their hashes are written with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ersgrid.errors import ServiceError
from ersgrid.service.telemetry import setpoint_topic, telemetry_topic

__all__ = [
    "SERVICE_USER",
    "TWIN_USER",
    "Credential",
    "Identities",
    "device_user",
    "hash_password",
    "read_credential",
    "write_credentials",
]

SERVICE_USER = "ersgrid-service"
TWIN_USER = "ersgrid-twin"
PBKDF2_ITERATIONS = 101
"""Mosquitto 2.0's own ``mosquitto_passwd`` default for ``$7$`` hashes [-]."""
_TOPIC_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def device_user(segment: str) -> str:
    """The MQTT user name of a segment's power unit."""
    return f"device-{segment}"


@dataclass(frozen=True)
class Credential:
    """A user name and its password."""

    username: str
    password: str


@dataclass(frozen=True)
class Identities:
    """The credentials the service connects with.

    Attributes
    ----------
    service : Credential
        The bridge and its ingest processes.
    twin : Credential or None
        The twin's simulated power units (``TwinDevices``).
    """

    service: Credential
    twin: Credential | None = None

    @classmethod
    def from_dir(cls, folder: Path) -> Identities:
        """Read ``service.json`` (and ``twin.json`` if there) from :func:`write_credentials`."""
        folder = Path(folder)
        twin = folder / "twin.json"
        return cls(
            read_credential(folder / "service.json"),
            read_credential(twin) if twin.is_file() else None,
        )


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2 password hash: ``$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>``."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def read_credential(path: Path) -> Credential:
    """Read a credential file (JSON with ``username`` and ``password``)."""
    try:
        data = json.loads(Path(path).read_text())
        return Credential(str(data["username"]), str(data["password"]))
    except FileNotFoundError:
        raise ServiceError(
            f"no MQTT credential file at {str(path)!r}; write one with "
            "`ersgrid mqtt-credentials SCENARIO --out DIR`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ServiceError(
            f"MQTT credential file {str(path)!r} is not JSON with username and password: {err}"
        ) from None


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)  # an existing file keeps its old mode through os.open


def acl_text(site: str, seg_ids: Sequence[str]) -> str:
    """Mosquitto ACL: the service, the twin, and each device on its own two topics."""
    lines = [
        f"# ersgrid MQTT access for site {site}: each device its own telemetry and setpoint",
        f"user {SERVICE_USER}",
        f"topic readwrite ersgrid/{site}/#",
        "topic read $SYS/broker/log/#",
        "",
        f"user {TWIN_USER}",
        f"topic write {telemetry_topic(site, '+')}",
        f"topic read {setpoint_topic(site, '+')}",
    ]
    for sid in seg_ids:
        lines += [
            "",
            f"user {device_user(sid)}",
            f"topic write {telemetry_topic(site, sid)}",
            f"topic read {setpoint_topic(site, sid)}",
        ]
    return "\n".join(lines) + "\n"


def broker_conf(folder: Path, host: str, port: int, broker_user: str | None = None) -> str:
    """``mosquitto.conf``: no anonymous clients, the password file and ACL of ``folder``.

    The broker's notices go to ``$SYS/broker/log/N`` too, where the service counts the
    connections it refused.
    """
    folder = folder.resolve()
    return "\n".join(
        [
            "# ersgrid: Mosquitto 2 with per-device identities (mosquitto -c mosquitto.conf)",
            "per_listener_settings false",
            f"listener {port} {host}",
            "allow_anonymous false",
            f"password_file {folder / 'passwd'}",
            f"acl_file {folder / 'acl'}",
            "persistence false",
            *([f"user {broker_user}"] if broker_user else []),
            "log_dest stderr",
            "log_dest topic",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ]
    )


def write_credentials(
    folder: Path,
    site: str,
    seg_ids: Sequence[str],
    host: str = "127.0.0.1",
    port: int = 1883,
    force: bool = False,
    broker_user: str | None = None,
) -> dict[str, int | str]:
    """Write a broker's password file, ACL and config, and every identity's credential file.

    Parameters
    ----------
    folder : Path
        Created if missing; must not hold a ``passwd`` yet unless ``force``.
    site : str
        Site name in the topics (letters, digits, ``.``, ``_``, ``-``).
    seg_ids : sequence of str
        The corridor's segment ids: one device identity each.
    host : str
        Address the broker listens on.
    port : int
        Port the broker listens on.
    force : bool
        Replace existing credentials (every device then needs its new file).
    broker_user : str, optional
        The system user a broker started as root runs as (Debian's ``mosquitto``): the
        password file and ACL are given to that user, and ``folder`` lets it through
        (mode 0711) without listing it. Needs root.

    Returns
    -------
    dict
        ``folder``, ``site`` and ``devices`` (number of device identities).
    """
    if not _TOPIC_SAFE.match(site):
        raise ServiceError(f"--site {site!r}: use letters, digits, '.', '_' or '-' only")
    bad = [sid for sid in seg_ids if not _TOPIC_SAFE.match(sid)]
    if bad:
        raise ServiceError(f"segment ids {bad[:3]} cannot be MQTT user names or topic levels")
    folder = Path(folder)
    if (folder / "passwd").exists() and not force:
        raise ServiceError(
            f"--out {str(folder)!r} already holds MQTT credentials; give an empty folder or "
            "--force to replace them"
        )
    (folder / "devices").mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o711 if broker_user else 0o700)
    os.chmod(folder / "devices", 0o700)
    users: list[tuple[str, str, Path, dict[str, str]]] = [
        (SERVICE_USER, "service", folder / "service.json", {}),
        (TWIN_USER, "twin", folder / "twin.json", {}),
    ]
    for sid in seg_ids:
        topics = {
            "segment": sid,
            "telemetry_topic": telemetry_topic(site, sid),
            "setpoint_topic": setpoint_topic(site, sid),
        }
        users.append((device_user(sid), "device", folder / "devices" / f"{sid}.json", topics))
    passwd = []
    for user, role, path, extra in users:
        password = secrets.token_urlsafe(24)
        passwd.append(f"{user}:{hash_password(password)}")
        body = {"username": user, "password": password, "role": role, "site": site,
                "broker": f"mqtt://{host}:{port}", **extra}  # fmt: skip
        _write(path, json.dumps(body, indent=1) + "\n", 0o600)
    _write(folder / "passwd", "\n".join(passwd) + "\n", 0o600)
    _write(folder / "acl", acl_text(site, seg_ids), 0o600)
    _write(folder / "mosquitto.conf", broker_conf(folder, host, port, broker_user), 0o644)
    if broker_user:
        import pwd

        try:
            uid = pwd.getpwnam(broker_user).pw_uid
            for name in ("passwd", "acl"):
                os.chown(folder / name, uid, -1)
        except (KeyError, PermissionError) as err:
            raise ServiceError(f"--broker-user {broker_user!r}: {err}") from None
    return {"folder": str(folder), "site": site, "devices": len(seg_ids)}
