"""The command line's one error mapping, applied around every command.

- :class:`~ersgrid.errors.ErsgridError` (bad input, a run that cannot go on): its message in
  red on stderr, exit code 2, no traceback.
- ``KeyboardInterrupt`` (Ctrl-C): one line on stderr saying what was kept (each command says
  it with :func:`on_interrupt` before it starts its work), exit code 130.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import typer
from typer.core import TyperGroup

from ersgrid.errors import ErsgridError

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "ErsgridGroup", "on_interrupt"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

_KEPT: ContextVar[str] = ContextVar("ersgrid_cli_kept", default="nothing was written")


def on_interrupt(kept: str) -> None:
    """Say what an interruption from now on keeps, e.g. ``"results/tiny is unchanged"``."""
    _KEPT.set(kept)


class ErsgridGroup(TyperGroup):
    """The root command group: its :meth:`invoke` runs every (sub)command inside the mapping."""

    def invoke(self, ctx: Any) -> Any:  # typer's Context (its own click, or click)
        from ersgrid.cli.console import alarm, status

        token = _KEPT.set(_KEPT.get())
        try:
            return super().invoke(ctx)
        except ErsgridError as err:
            alarm("error", str(err))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            status(f"interrupted: {_KEPT.get()}")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            _KEPT.reset(token)
