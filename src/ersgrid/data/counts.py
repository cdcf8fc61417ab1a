"""Measured traffic counts: the file format that replays detector data into the twin.

A CSV file with the header ``time,direction,class,count`` (any order) and an optional
``interchange`` column; one row per counting interval, direction, class (and entry
interchange). ``time`` is the interval's start (see :mod:`ersgrid.data.timeseries` for times),
``direction`` is ``A`` (increasing road kilometre) or ``B``, ``class`` one of ``car``, ``bus``,
``truck``, ``count`` the whole number of vehicles that entered in the interval, and
``interchange`` the name of the interchange where they entered. Intervals are regular (5, 10,
15, 30 or 60 min).

Every error names the file, the line and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.timeseries import csv_rows, epoch_ns, parse_time, regular_interval
from ersgrid.errors import DataError

__all__ = ["COUNT_COLUMNS", "TrafficCounts", "read_counts"]

COUNT_COLUMNS: tuple[str, ...] = ("time", "direction", "class", "count")
"""Columns a counts file must have (``interchange`` is optional)."""


@dataclass(frozen=True)
class TrafficCounts:
    """Counts of a file, one entry per row, sorted by time.

    Attributes
    ----------
    path : Path
    start : DatetimeIndex
        Start of each row's interval (tz-aware).
    interval : Timedelta
        Length of every interval.
    direction : ndarray of int8
        0 = A, 1 = B.
    vclass : ndarray of int8
        Index into the classes given to :func:`read_counts`.
    interchange : ndarray of int16
        Entry interchange (index into the names given), -1 without the column.
    count : ndarray of int64 [veh]
    line : ndarray of int64
        Line of each row in the file (for messages).
    """

    path: Path
    start: pd.DatetimeIndex
    interval: pd.Timedelta
    direction: npt.NDArray[np.int8]
    vclass: npt.NDArray[np.int8]
    interchange: npt.NDArray[np.int16]
    count: npt.NDArray[np.int64]
    line: npt.NDArray[np.int64]

    @property
    def per_interchange(self) -> bool:
        """Whether the file counts entries per interchange."""
        return bool(len(self.interchange)) and bool(self.interchange[0] >= 0)


def read_counts(
    path: Path, tz: str, classes: tuple[str, ...], interchanges: list[str]
) -> TrafficCounts:
    """Read a counts file.

    Parameters
    ----------
    path : Path
    tz : str
        Time zone of times without an offset.
    classes : tuple of str
        Vehicle class names, in the order of the class index.
    interchanges : list of str
        Interchange names, in the order of the interchange index.

    Raises
    ------
    DataError
        Naming file, line and column of the first bad value, a row that repeats an interval,
        direction, class and interchange, or a header without the needed columns.
    """
    rows = csv_rows(path)
    if not rows:
        raise DataError(
            f"{path}, line 1: empty file, expected the header {','.join(COUNT_COLUMNS)}"
        )
    header = [c.strip() for c in rows[0]]
    missing = [c for c in COUNT_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{path}, line 1: the header lacks {', '.join(missing)}; a counts file has "
            f"{','.join(COUNT_COLUMNS)}[,interchange]"
        )
    col = {name: header.index(name) for name in header}
    has_ic = "interchange" in col
    need = max(col[c] for c in (*COUNT_COLUMNS, *(["interchange"] if has_ic else []))) + 1
    starts: list[pd.Timestamp] = []
    direction: list[int] = []
    vclass: list[int] = []
    ic: list[int] = []
    count: list[int] = []
    lines: list[int] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < need:
            raise DataError(
                f"{path}, line {line}: {len(row)} columns, the header has {len(header)}"
            )
        starts.append(parse_time(path, line, "time", row[col["time"]], tz))
        d = row[col["direction"]].strip()
        if d not in ("A", "B"):
            raise DataError(f"{path}, line {line}, column 'direction': {d!r} is not A or B")
        direction.append(0 if d == "A" else 1)
        c = row[col["class"]].strip()
        if c not in classes:
            raise DataError(
                f"{path}, line {line}, column 'class': {c!r} is not a class of the scenario "
                f"({', '.join(classes)})"
            )
        vclass.append(classes.index(c))
        text = row[col["count"]].strip()
        if not text.isdigit():
            raise DataError(
                f"{path}, line {line}, column 'count': {text!r} is not a whole number >= 0"
            )
        count.append(int(text))
        if has_ic:
            name = row[col["interchange"]].strip()
            if name not in interchanges:
                raise DataError(
                    f"{path}, line {line}, column 'interchange': {name!r} is not an interchange "
                    f"of the road ({', '.join(interchanges)})"
                )
            ic.append(interchanges.index(name))
        else:
            ic.append(-1)
        lines.append(line)
    if not starts:
        raise DataError(f"{path}: no rows below the header")
    start = pd.DatetimeIndex(starts)
    order = np.argsort(epoch_ns(start), kind="stable")
    start = start[order]
    interval = regular_interval(path, pd.DatetimeIndex(start.unique()), "the counting intervals")
    out = TrafficCounts(
        path=path,
        start=start,
        interval=interval,
        direction=np.asarray(direction, dtype=np.int8)[order],
        vclass=np.asarray(vclass, dtype=np.int8)[order],
        interchange=np.asarray(ic, dtype=np.int16)[order],
        count=np.asarray(count, dtype=np.int64)[order],
        line=np.asarray(lines, dtype=np.int64)[order],
    )
    frame = pd.DataFrame(
        {"t": epoch_ns(out.start), "d": out.direction, "c": out.vclass, "i": out.interchange}
    )
    dup = frame.duplicated(keep="first").to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise DataError(
            f"{path}, line {int(out.line[k])}: interval {out.start[k]}, direction "
            f"{'AB'[out.direction[k]]}, class {classes[out.vclass[k]]} is counted twice"
        )
    ns = epoch_ns(out.start)
    offset = (ns - ns[0]) % interval.value
    if (offset != 0).any():
        k = int(np.flatnonzero(offset)[0])
        raise DataError(
            f"{path}, line {int(out.line[k])}, column 'time': {out.start[k]} is not on the "
            f"file's {interval} grid"
        )
    return out
