"""``python -m ersgrid.cli``."""

from ersgrid.cli.app import main

main()
