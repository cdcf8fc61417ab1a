"""Price files: a plain time-series CSV and the JEPX spot-summary CSV layout.

Both importers check every row and stop at the first bad value with a :class:`DataError`
naming the file, the line (1-based, header included) and the column.

JEPX layout (``spot_summary_<fiscal year>.csv`` published by the Japan Electric Power
Exchange, Shift-JIS or UTF-8): one row per delivery date and half-hour product with columns
``受渡日`` (date, YYYY/MM/DD), ``時刻コード`` (time code 1..48: code k starts at
(k - 1) × 30 min), bid volumes, ``システムプライス(円/kWh)`` (system price) and one
``エリアプライス<area>(円/kWh)`` column per area (北海道, 東北, 東京, 中部, 北陸, 関西, 中国, 四国,
九州), followed by further columns that are not read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ersgrid.errors import DataError

__all__ = ["JEPX_AREAS", "align_prices", "read_jepx_spot", "read_price_csv"]

JEPX_AREAS: dict[str, str] = {
    "system": "システムプライス",
    "hokkaido": "エリアプライス北海道",
    "tohoku": "エリアプライス東北",
    "tokyo": "エリアプライス東京",
    "chubu": "エリアプライス中部",
    "hokuriku": "エリアプライス北陸",
    "kansai": "エリアプライス関西",
    "chugoku": "エリアプライス中国",
    "shikoku": "エリアプライス四国",
    "kyushu": "エリアプライス九州",
}
"""Price column of each JEPX area (header starts with this text) by its English name."""


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read price file ({err})") from None
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(f"{path}: neither UTF-8 nor Shift-JIS text")


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_read_text(path))))


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise DataError(
            f"{path}, line {line}, column {column!r}: {text!r} is not a number"
        ) from None
    if not np.isfinite(value):
        raise DataError(f"{path}, line {line}, column {column!r}: {text!r} is not finite")
    return value


def read_price_csv(path: Path, tz: str) -> pd.Series:
    """Read ``time,price_per_kwh`` rows (ISO 8601 times, increasing) [currency/kWh].

    Times without an offset are taken as local time in ``tz``. Each price holds from its time
    until the next row's time.
    """
    rows = _rows(path)
    if not rows or [c.strip() for c in rows[0][:2]] != ["time", "price_per_kwh"]:
        raise DataError(f"{path}, line 1: header must be 'time,price_per_kwh'")
    times: list[pd.Timestamp] = []
    values: list[float] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise DataError(f"{path}, line {line}: expected 2 columns, found {len(row)}")
        try:
            stamp = pd.Timestamp(row[0].strip())
        except ValueError:
            raise DataError(
                f"{path}, line {line}, column 'time': {row[0]!r} is not a time"
            ) from None
        if pd.isna(stamp):
            raise DataError(f"{path}, line {line}, column 'time': empty time")
        stamp = stamp.tz_localize(tz) if stamp.tzinfo is None else stamp.tz_convert(tz)
        if times and stamp <= times[-1]:
            raise DataError(
                f"{path}, line {line}, column 'time': {row[0]!r} is not after the row above"
            )
        times.append(stamp)
        values.append(_number(path, line, "price_per_kwh", row[1]))
    if not times:
        raise DataError(f"{path}: no price rows")
    return pd.Series(values, index=pd.DatetimeIndex(times), name="price_per_kwh")


def read_jepx_spot(path: Path, area: str = "system") -> pd.Series:
    """Read a JEPX spot-summary CSV: the price of ``area`` per half hour [yen/kWh].

    Returns
    -------
    Series indexed by the start of each half-hour product (tz Asia/Tokyo).
    """
    if area not in JEPX_AREAS:
        raise DataError(f"unknown JEPX area {area!r}; known: {list(JEPX_AREAS)}")
    rows = _rows(path)
    if not rows:
        raise DataError(f"{path}, line 1: empty file, expected the JEPX header")
    header = [c.strip() for c in rows[0]]

    def find(prefix: str) -> int:
        for i, name in enumerate(header):
            if name.startswith(prefix):
                return i
        raise DataError(f"{path}, line 1: no column starting with {prefix!r} in the header")

    i_date, i_code, i_price = find("受渡日"), find("時刻コード"), find(JEPX_AREAS[area])
    price_col = header[i_price]
    need = max(i_date, i_code, i_price) + 1
    starts: list[dt.datetime] = []
    values: list[float] = []
    seen: set[tuple[dt.date, int]] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < need:
            raise DataError(
                f"{path}, line {line}: {len(row)} columns, the header has {len(header)}"
            )
        text = row[i_date].strip()
        day = None
        for fmt in ("%Y/%m/%d", "%Y-%m-%d"):
            try:
                day = dt.datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        if day is None:
            raise DataError(
                f"{path}, line {line}, column '受渡日': {text!r} is not a YYYY/MM/DD date"
            )
        code_text = row[i_code].strip()
        if not code_text.isdigit() or not 1 <= int(code_text) <= 48:
            raise DataError(
                f"{path}, line {line}, column '時刻コード': {code_text!r} is not a time code 1..48"
            )
        code = int(code_text)
        if (day, code) in seen:
            raise DataError(f"{path}, line {line}: {day} time code {code} appears twice")
        seen.add((day, code))
        value = _number(path, line, price_col, row[i_price])
        if value < 0:
            raise DataError(f"{path}, line {line}, column {price_col!r}: negative price {value}")
        starts.append(dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=30 * (code - 1)))
        values.append(value)
    if not starts:
        raise DataError(f"{path}: no price rows below the header")
    index = pd.DatetimeIndex(starts).tz_localize("Asia/Tokyo")
    series = pd.Series(values, index=index, name="price_per_kwh").sort_index()
    return series


def align_prices(series: pd.Series, index: pd.DatetimeIndex, origin: str) -> pd.Series:
    """Prices on the planning steps: each step takes the last price that started at or before it.

    Raises
    ------
    DataError
        If the file does not cover the run's steps.
    """
    src = pd.DatetimeIndex(series.index)
    idx = index.tz_convert(src.tz) if src.tz is not None else index
    if idx[0] < series.index[0] or idx[-1] > series.index[-1] + pd.Timedelta(hours=1):
        raise DataError(
            f"{origin}: prices cover {series.index[0]} .. {series.index[-1]}, the run needs "
            f"{index[0]} .. {index[-1]}; use a file for the run's dates or change the start"
        )
    pos = series.index.get_indexer(idx, method="ffill")
    return pd.Series(series.to_numpy()[pos], index=index, name="price_per_kwh")
