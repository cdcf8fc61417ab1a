"""Report face: self-contained HTML pages of runs."""

from ersgrid.report.html import write_report

__all__ = ["write_report"]
