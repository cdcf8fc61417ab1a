"""The ``ersgrid`` command: every command group assembled under one error mapping.

Each group lives in its own module and imports its engines inside its commands, so that
building this app (for ``--help`` or ``scenarios``) imports no numerical package.
"""

from __future__ import annotations

import typer

from ersgrid.cli import (
    coalitions,
    dr,
    economics,
    forecast,
    ledger,
    mqtt,
    runs,
    serve,
    sizing,
    support,
    sweep,
    users,
)
from ersgrid.cli.errors import ErsgridGroup

__all__ = ["app", "main"]

app = typer.Typer(
    cls=ErsgridGroup,
    help="ersgrid: energy management and digital twin for electric road systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help texts keep their units: "[kW]" is text, not a style
)

app.command()(runs.run)
app.command()(runs.compare)
app.command()(runs.validate)
app.command()(runs.scenarios)
app.command("scenario-doc")(runs.scenario_doc)
app.command()(runs.export)
app.command()(economics.economics)
app.command()(coalitions.coalitions)
app.command("economics-year")(economics.economics_year)
app.command()(sizing.size)
app.command()(support.reserve)
app.command()(support.outage)
app.command()(sweep.sweep)
app.command()(serve.serve)
app.command("mqtt-credentials")(mqtt.mqtt_credentials)
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(dr.dr_app, name="dr")
app.add_typer(forecast.forecast_app, name="forecast")
app.add_typer(users.users_app, name="users")


def main() -> None:  # pragma: no cover - console entry
    """Run the command line (``python -m ersgrid.cli``)."""
    app(prog_name="ersgrid")
