"""Readers of the user's own measured time series: helpers for times, and power files.

Times in these files are interval starts in ISO 8601. A time without an offset is local time
of the scenario's zone; a local time that the clock shows twice (the hour repeated at the end
of daylight saving time) or never (the hour skipped at its start) needs an explicit offset.
Every error names the file, the line (1-based, header included) and the column.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import DataError

__all__ = [
    "INTERVALS_MIN",
    "align_power",
    "csv_rows",
    "epoch_ns",
    "first_gap",
    "parse_time",
    "read_power_csv",
    "regular_interval",
]

FloatArray = npt.NDArray[np.float64]

INTERVALS_MIN: tuple[int, ...] = (5, 10, 15, 30, 60)
"""Interval lengths a measured series may have [min]."""


def epoch_ns(index: pd.DatetimeIndex) -> npt.NDArray[np.int64]:
    """Nanoseconds since the Unix epoch of each time of a tz-aware index."""
    utc = index.tz_convert("UTC").tz_localize(None)
    return np.asarray(utc.to_numpy().astype("datetime64[ns]").astype(np.int64))


def csv_rows(path: Path) -> list[list[str]]:
    """The rows of a UTF-8 (or Shift-JIS) CSV file.

    Raises
    ------
    DataError
        If the file cannot be read or is not text.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return list(csv.reader(io.StringIO(raw.decode(encoding))))
        except UnicodeDecodeError:
            continue
    raise DataError(f"{path}: neither UTF-8 nor Shift-JIS text")


def parse_time(path: Path, line: int, column: str, text: str, tz: str) -> pd.Timestamp:
    """An ISO 8601 time of a file, tz-aware in ``tz``.

    Raises
    ------
    DataError
        Naming file, line and column if the text is not a time, or a local time that does not
        exist or exists twice in ``tz``.
    """
    where = f"{path}, line {line}, column {column!r}"
    try:
        stamp = pd.Timestamp(text.strip())
    except (ValueError, TypeError):
        raise DataError(f"{where}: {text!r} is not an ISO 8601 time") from None
    if pd.isna(stamp):
        raise DataError(f"{where}: empty time")
    if stamp.tzinfo is not None:
        return stamp.tz_convert(tz)
    try:
        return stamp.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    except Exception as err:  # pytz/zoneinfo raise AmbiguousTimeError / NonExistentTimeError
        raise DataError(
            f"{where}: {text!r} is {'ambiguous' if 'mbiguous' in str(err) else 'not a time'} "
            f"in {tz} (a daylight-saving change); give it with its UTC offset, e.g. "
            f"{stamp.isoformat()}+02:00"
        ) from None


def regular_interval(path: Path, times: pd.DatetimeIndex, what: str) -> pd.Timedelta:
    """The interval of a series of interval starts: the shortest spacing, which must be one of
    :data:`INTERVALS_MIN` and must divide every other spacing.

    Raises
    ------
    DataError
        If the spacing is not an allowed interval.
    """
    if len(times) < 2:
        raise DataError(f"{path}: {what} needs at least two intervals to know their length")
    spacing = np.diff(epoch_ns(times))
    shortest = pd.Timedelta(int(spacing.min()), unit="ns")
    minutes = shortest.total_seconds() / 60.0
    if minutes not in INTERVALS_MIN:
        raise DataError(
            f"{path}: {what} is {minutes:g} min apart at the shortest; intervals of "
            f"{', '.join(map(str, INTERVALS_MIN))} min are supported"
        )
    return shortest


def read_power_csv(path: Path, tz: str) -> pd.Series:
    """A measured power series ``time,power_kw`` [kW], indexed by interval start.

    Raises
    ------
    DataError
        Naming file, line and column of the first bad value (header, time, number, a time
        not after the row above, a negative power).
    """
    rows = csv_rows(path)
    if not rows or [c.strip() for c in rows[0][:2]] != ["time", "power_kw"]:
        raise DataError(f"{path}, line 1: header must be 'time,power_kw'")
    times: list[pd.Timestamp] = []
    values: list[float] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise DataError(f"{path}, line {line}: expected 2 columns, found {len(row)}")
        stamp = parse_time(path, line, "time", row[0], tz)
        if times and stamp <= times[-1]:
            raise DataError(
                f"{path}, line {line}, column 'time': {row[0]!r} is not after the row above"
            )
        try:
            value = float(row[1].strip())
        except ValueError:
            raise DataError(
                f"{path}, line {line}, column 'power_kw': {row[1]!r} is not a number"
            ) from None
        if not np.isfinite(value) or value < 0.0:
            raise DataError(
                f"{path}, line {line}, column 'power_kw': {row[1]!r} is not a power >= 0 "
                "(AC output of the plant)"
            )
        times.append(stamp)
        values.append(value)
    if not times:
        raise DataError(f"{path}: no rows below the header")
    return pd.Series(values, index=pd.DatetimeIndex(times), name="power_kw")


def align_power(
    series: pd.Series, index: pd.DatetimeIndex, origin: str, require: bool = True
) -> FloatArray:
    """Mean power of a measured series over each planning step of ``index`` [kW].

    Intervals shorter than the step are averaged; longer ones hold their mean over the steps
    they span.

    Parameters
    ----------
    require : bool
        True: every step must be covered (else DataError naming the missing period). False:
        uncovered steps are NaN (a history that has less than asked for).
    """
    path = Path(origin)
    times = pd.DatetimeIndex(series.index)
    interval = regular_interval(path, times, "the series")
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(minutes=15)
    values = series.to_numpy(dtype=np.float64)
    # the series on a fine grid of the shorter of interval and step
    fine = min(interval, step)
    per_interval = int(interval / fine)
    per_step = int(step / fine)
    start = min(times[0], index[0].tz_convert(times.tz))
    end = max(times[-1] + interval, index[-1].tz_convert(times.tz) + step)
    grid = pd.date_range(start, end, freq=fine, inclusive="left")
    fine_values = np.full(len(grid), np.nan)
    pos = grid.get_indexer(times)
    if (pos < 0).any():
        raise DataError(f"{origin}: interval starts are not on a regular {interval} grid")
    for k in range(per_interval):
        fine_values[pos + k] = values
    take = grid.get_indexer(index.tz_convert(times.tz))
    cells = fine_values[take[:, None] + np.arange(per_step)[None, :]]
    out = np.asarray(cells.mean(axis=1), dtype=np.float64)
    missing = np.isnan(out)
    if require and missing.any():
        first, last = first_gap(index, missing, step)
        raise DataError(
            f"{origin}: no measured value for {first} .. {last} (the file has "
            f"{times[0]} .. {times[-1] + interval}, {interval} intervals); measured data must "
            "cover the run without a gap"
        )
    return out


def first_gap(
    index: pd.DatetimeIndex, missing: npt.NDArray[np.bool_], step: pd.Timedelta
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start and end of the first run of consecutive missing steps of ``index``."""
    where = np.flatnonzero(missing)
    i = int(where[0])
    j = i
    while j + 1 < len(index) and missing[j + 1]:
        j += 1
    return index[i], index[j] + step
