"""The ``ersgrid`` command line (console script ``ersgrid = "ersgrid.cli:app"``)."""

from ersgrid.cli.app import app, main

__all__ = ["app", "main"]
