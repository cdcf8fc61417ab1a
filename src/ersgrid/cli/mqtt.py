"""``ersgrid mqtt-credentials``: MQTT identities of a corridor's devices and of the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ersgrid.cli.console import ok, say
from ersgrid.cli.errors import on_interrupt

__all__ = ["mqtt_credentials"]


def mqtt_credentials(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    out: Annotated[Path, typer.Option(help="Folder for the broker's files and credentials.")],
    site: Annotated[
        str | None, typer.Option(help="Site name in the topics (the scenario name if not given).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address the broker listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the broker listens on.", min=1)] = 1883,
    force: Annotated[bool, typer.Option(help="Replace credentials already in --out.")] = False,
    broker_user: Annotated[
        str | None,
        typer.Option(
            help="System user a broker started as root runs as (e.g. mosquitto): the password "
            "file and ACL are given to it (needs root)."
        ),
    ] = None,
) -> None:
    """Write a Mosquitto password file, ACL and config, and one credential file per device.

    Each segment's device may publish only its own telemetry topic and read only its own
    setpoint topic; the service (service.json) and the twin's devices (twin.json) have users
    of their own. Passwords are random; the files holding them are readable by the owner only.
    Start the broker with `mosquitto -c OUT/mosquitto.conf` and the service with
    `ersgrid serve SCENARIO --mqtt mqtt://HOST:PORT --mqtt-credentials OUT`.
    """
    from ersgrid.scenario.layout import build_layout
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.service.mqtt_auth import write_credentials

    sc = load_scenario(scenario)
    on_interrupt(f"{out} may hold part of the credentials; run again with --force")
    seg_ids = build_layout(sc).seg_ids
    done = write_credentials(out, site or sc.name, seg_ids, host=host, port=port, force=force,
                             broker_user=broker_user)  # fmt: skip
    ok(f"{done['devices']} device identities for site {done['site']} in {out}")
    say(f"broker: mosquitto -c {out / 'mosquitto.conf'}")
