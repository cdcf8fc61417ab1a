"""What the command line prints: tables that keep their units and fit the screen, numbers
rounded to their resolution, JSON for machines, progress that shows without a terminal.

Text from the program (labels with ``[kWh]``, paths, messages) is never read as rich markup:
cells and lines go through :func:`rich.markup.escape` or are printed with ``markup=False``.
rich itself is imported on first use, so that ``--help`` does without it.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = [
    "PlainProgress",
    "alarm",
    "fit_tables",
    "format_value",
    "ok",
    "print_json",
    "print_tables",
    "progress",
    "resolution",
    "say",
    "status",
    "stderr",
    "stdout",
]

Tick = Callable[..., None]
"""``tick(done, total, note="")``: a progress callback."""


@functools.cache
def stdout() -> Console:
    """Results (tables, lines) on stdout; 80 columns wide when stdout is not a terminal."""
    from rich.console import Console

    return Console(highlight=False)


@functools.cache
def stderr() -> Console:
    """Progress, status and errors on stderr, so that stdout holds the results alone."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def say(text: str) -> None:
    """One line of results on stdout, exactly as given (no markup, not wrapped)."""
    stdout().print(text, markup=False, highlight=False, soft_wrap=True)


def ok(text: str) -> None:
    """``ok: <text>`` on stdout, ``ok`` in green."""
    stdout().print(f"[green]ok[/]: {_escape(text)}", highlight=False, soft_wrap=True)


def alarm(label: str, text: str) -> None:
    """``<label>: <text>`` on stderr, the label in bold red (``error``, ``TAMPERED``)."""
    stderr().print(f"[bold red]{_escape(label)}:[/] {_escape(text)}", highlight=False,
                   soft_wrap=True)  # fmt: skip


def status(text: str, quiet: bool = False) -> None:
    """A line on stderr about what the command is doing (none with ``quiet``)."""
    if not quiet:
        stderr().print(text, markup=False, highlight=False, soft_wrap=True)


def _plain(value: Any) -> Any:
    """Numpy scalars as Python numbers, recursively (keys as text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):  # date, datetime, pandas Timestamp
        return value.isoformat()
    if hasattr(value, "tolist"):  # an array
        return value.tolist()
    return str(value)  # Path and the like


def print_json(value: Any) -> None:
    """``value`` as JSON on stdout (NaN and infinities as null), nothing else."""
    from ersgrid.jsonsafe import json_safe

    text = json.dumps(
        json_safe(_plain(value)), indent=2, ensure_ascii=False, default=_json_default,
        allow_nan=False,
    )  # fmt: skip
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# --- numbers ---------------------------------------------------------------------------

_SUFFIX_RESOLUTION = (
    ("_per_kwh", 1e-4),  # currency per kWh
    ("_kwh", 1e-3),  # 1 Wh
    ("_kw", 1e-3),  # 1 W
    ("_mwh", 1e-6),
    ("_mw", 1e-6),
    ("_kg", 1e-3),  # 1 g
    ("_pu", 1e-4),
    ("_hz", 1e-4),
    ("_pct", 1e-2),
    ("_s", 1e-3),
    ("_h", 1e-3),
    ("_km", 1e-3),
    ("_m", 1e-2),
)
_MONEY = ("cost", "revenue", "margin", "objective", "charge", "payment", "buyback", "total")


def resolution(key: str) -> float:
    """The smallest step a quantity named ``key`` is shown in: its unit suffix decides (1 Wh
    for ``_kwh``, 1e-4 for ``_pu``, 0.01 for ``_pct`` and money, 1e-4 otherwise)."""
    name = key.lower()
    for suffix, step in _SUFFIX_RESOLUTION:
        if name.endswith(suffix):
            return step
    if any(word in name for word in _MONEY):
        return 1e-2
    return 1e-4


def format_value(value: Any, key: str = "", step: float | None = None) -> str:
    """A value as a table shows it: rounded to its resolution, never in exponent notation.

    Floats keep four significant digits below 100 and none after the point from 100 on, and
    never more digits than the resolution has (``step``, or the one of ``key``): a float
    noise like ``2.132e-14`` kWh shows as ``0``. NaN shows as ``–``, None as an empty cell.

    Parameters
    ----------
    value : any
        The value.
    key : str
        Its name (a KPI key or column name); its unit suffix gives the resolution.
    step : float, optional
        The resolution, instead of the one from ``key``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        if hasattr(value, "item"):  # numpy scalar
            return format_value(value.item(), key, step)
        return str(value)
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    res = step if step is not None else resolution(key)
    if abs(value) < res / 2:
        return "0"
    max_decimals = max(0, -math.floor(math.log10(res) + 1e-9))
    magnitude = math.floor(math.log10(abs(value)))
    decimals = 0 if abs(value) >= 99.5 else min(max_decimals, max(0, 3 - magnitude))
    text = f"{value:,.{decimals}f}"  # rounded once, to the coarser of 4 digits and the step
    return "0" if float(text.replace(",", "")) == 0.0 else text


# --- tables ----------------------------------------------------------------------------

LABEL_WIDTH = 34
"""Widest label column; longer labels wrap inside it."""


def _cell_width(texts: Sequence[str]) -> int:
    return max((len(t) for t in texts), default=0)


def fit_tables(
    title: str,
    label_header: str,
    labels: Sequence[str],
    columns: Mapping[str, Sequence[str]],
    width: int | None = None,
) -> list[Table]:
    """A labelled table of columns, split into as many tables as it takes to fit ``width``.

    Each table repeats the label column, so that a table with many strategies (or cases) is
    read as several narrow ones rather than one with wrapped numbers.

    Parameters
    ----------
    title : str
        Title of the first table (plain text, units in brackets are kept).
    label_header : str
        Header of the label column.
    labels : sequence of str
        One label per row (plain text).
    columns : mapping of str to sequence of str
        Header -> one formatted cell per row.
    width : int, optional
        Columns of the screen (the console's width by default: 80 without a terminal).
    """
    from rich.table import Table

    escape = _escape
    width = width or stdout().width
    widest_label = max(_cell_width([label_header, *labels]), 8)
    label_w = min(LABEL_WIDTH, widest_label)
    room = width - (label_w + 3) - 1  # the label column with its padding and both borders
    chunks: list[list[str]] = [[]]
    used = [0]
    for header, cells in columns.items():
        need = max(len(header), _cell_width(cells)) + 3  # padding and a border
        if chunks[-1] and used[-1] + need > room:
            chunks.append([])
            used.append(0)
        chunks[-1].append(header)
        used[-1] += need
    # what the widest table leaves goes to the labels, so that they wrap as little as they can
    label_w = max(label_w, min(widest_label, width - 4 - max(used)))
    tables = []
    for n, chunk in enumerate(chunks):
        table = Table(
            title=escape(title) if n == 0 else None, title_justify="left",
            min_width=min(len(title), width) if n == 0 else None,  # the title on one line
        )  # fmt: skip
        table.add_column(escape(label_header), max_width=label_w, overflow="fold")
        for header in chunk:
            table.add_column(escape(header), justify="right", no_wrap=True)
        for i, label in enumerate(labels):
            table.add_row(escape(label), *(escape(columns[h][i]) for h in chunk))
        tables.append(table)
    return tables


def print_tables(tables: Sequence[Table]) -> None:
    """Print tables on stdout, one after the other."""
    for table in tables:
        stdout().print(table)


# --- progress --------------------------------------------------------------------------


class PlainProgress:
    """Progress as plain lines on stderr: one when a task starts, one every ``every_pct`` %
    and one when it is done (for logs and pipes, where a live bar shows nothing)."""

    def __init__(self, every_pct: float = 5.0) -> None:
        self.every_pct = every_pct

    def task(self, label: str, unit: str = "steps") -> Tick:
        """A callback ``tick(done, total, note="")`` for one task."""
        t0 = time.perf_counter()
        next_pct = [0.0]
        status(f"{label}: started")

        def tick(done: int, total: int, note: str = "") -> None:
            if total <= 0:
                return
            pct = 100.0 * done / total
            if pct + 1e-9 < next_pct[0] and done < total:
                return
            if next_pct[0] > 100.0:
                return  # done already said
            extra = f", {note}" if note else ""
            elapsed = time.perf_counter() - t0
            status(f"{label}: {pct:3.0f} % ({done:,}/{total:,} {unit}{extra}, {elapsed:,.0f} s)")
            if done >= total:
                next_pct[0] = math.inf
            else:
                next_pct[0] = (math.floor(pct / self.every_pct) + 1) * self.every_pct

        return tick


class _LiveProgress:
    """A rich progress bar on the terminal (stderr)."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def task(self, label: str, unit: str = "steps") -> Tick:
        task_id = self.bar.add_task(_escape(label), total=None, unit=unit, note="")

        def tick(done: int, total: int, note: str = "") -> None:
            text = f", {note}" if note else ""
            self.bar.update(task_id, completed=done, total=total, note=text)

        return tick


class _NoProgress:
    def task(self, label: str, unit: str = "steps") -> Tick:
        def tick(done: int, total: int, note: str = "") -> None:
            return None

        return tick


@contextmanager
def progress(quiet: bool = False) -> Iterator[PlainProgress | _LiveProgress | _NoProgress]:
    """Progress of long tasks on stderr: a live bar on a terminal, plain lines elsewhere,
    nothing with ``quiet``. Use ``with progress(q) as p: tick = p.task("tiny / mpc")``."""
    if quiet:
        yield _NoProgress()
        return
    if not stderr().is_terminal:
        yield PlainProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}{task.fields[note]}", markup=False), TimeElapsedColumn(),
        console=stderr(), transient=False,
    ) as bar:  # fmt: skip
        yield _LiveProgress(bar)
