"""Users' own history from CSV or Parquet, checked row by row.

Two layouts (see ``docs/forecasting.md``):

* **long** — columns ``timestamp``, ``target``, ``value``: one measurement per row, any targets
  (``traffic``, ``demand``, ``pv``, ``price``, …);
* **traffic counts** — a ``timestamp`` column and one column per vehicle class, optionally per
  direction: ``car``, ``bus``, ``truck`` or ``car_A``, ``car_B``, … [veh per 15 min].

Timestamps are ISO 8601 on the 15-min grid, either all with a UTC offset (recommended) or all
local wall-clock times of the corridor (then ``timezone`` is needed). A malformed file raises
:class:`~ersgrid.errors.DataError` naming the row (1-based data row; for CSV also the file line),
the column and the value.

:func:`parse_history` is pure; :func:`read_history` is the one function of the package that
reads a file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ersgrid.errors import DataError
from ersgrid.world.history import TRAFFIC_PREFIX

__all__ = ["parse_history", "read_history"]

_CLASS_COLUMN = re.compile(r"^(car|bus|truck)(_[AB])?$")
_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
_STEP = pd.Timedelta(minutes=15)


def _where(i: int, source: str, csv: bool) -> str:
    line = f" (line {i + 2})" if csv else ""
    return f"{source}: row {i + 1}{line}"


def _timestamps(raw: pd.Series, source: str, csv: bool, timezone: str | None) -> pd.DatetimeIndex:
    text = raw.astype(str).str.strip()
    has_offset = text.str.contains(_OFFSET).to_numpy()
    if has_offset.any() and not has_offset.all():
        i = int(np.argmax(has_offset != has_offset[0]))
        raise DataError(
            f"{_where(i, source, csv)}: timestamp {text.iloc[i]!r} mixes local times and UTC "
            "offsets; write every timestamp with its offset (e.g. 2035-04-02T00:15:00+09:00)"
        )
    if has_offset.all():
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{_where(i, source, csv)}: timestamp {raw.iloc[i]!r} is not an ISO 8601 date and "
            "time (e.g. 2035-04-02T00:15:00+09:00)"
        )
    index = pd.DatetimeIndex(parsed)
    if index.tz is None:
        if timezone is None:
            raise DataError(
                f"{source}: timestamps carry no UTC offset; give the corridor's time zone "
                "(the scenario's) or write offsets"
            )
        index = index.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        nat = np.asarray(index.isna())
        if nat.any():
            i = int(np.argmax(nat))
            raise DataError(
                f"{_where(i, source, csv)}: local time {raw.iloc[i]!r} is ambiguous or does not "
                f"exist in {timezone} (a daylight-saving change); write it with its UTC offset"
            )
    elif timezone is not None:
        index = index.tz_convert(timezone)
    off_grid = np.asarray(index.floor("15min") != index)
    if off_grid.any():
        i = int(np.argmax(off_grid))
        raise DataError(
            f"{_where(i, source, csv)}: timestamp {raw.iloc[i]!r} is not on the 15-min grid "
            "(:00, :15, :30, :45); resample the history to 15-min steps first"
        )
    return index


def _numbers(raw: pd.Series, column: str, source: str, csv: bool, counts: bool) -> pd.Series:
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=np.float64))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{_where(i, source, csv)}: column {column!r} holds {raw.iloc[i]!r}, not a number"
        )
    if counts:
        negative = (values < 0).to_numpy()
        if negative.any():
            i = int(np.argmax(negative))
            raise DataError(
                f"{_where(i, source, csv)}: column {column!r} holds a negative vehicle count "
                f"({raw.iloc[i]!r})"
            )
    return values.astype(np.float64)


def _duplicates(keys: pd.DataFrame, source: str, csv: bool) -> None:
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = keys.iloc[rows[0]]
        twin = next(j for j in rows[1:] if keys.iloc[j].equals(first))
        raise DataError(
            f"{_where(int(twin), source, csv)}: repeats row {rows[0] + 1} "
            f"({', '.join(str(v) for v in first.to_numpy())}); keep one value per step and target"
        )


def parse_history(
    raw: pd.DataFrame, source: str = "history", timezone: str | None = None, csv: bool = False
) -> pd.DataFrame:
    """Turn a user's table into a history (regular 15-min, tz-aware, one column per target).

    Parameters
    ----------
    raw : DataFrame
        Columns as read from the file, in file order.
    source : str
        Name used in error messages (the file name).
    timezone : str, optional
        IANA zone of the corridor; needed when timestamps have no UTC offset.
    csv : bool
        Name file lines too (row 1 is line 2, below the header).

    Returns
    -------
    DataFrame
        Traffic counts appear as ``traffic:<class>[_<direction>]`` plus their sum ``traffic``;
        missing steps are NaN.
    """
    columns = [str(c).strip() for c in raw.columns]
    raw = raw.set_axis(columns, axis=1)
    if "timestamp" not in columns:
        raise DataError(f"{source}: no 'timestamp' column (columns: {columns})")
    if len(raw) == 0:
        raise DataError(f"{source}: no rows")
    index = _timestamps(raw["timestamp"], source, csv, timezone)
    others = [c for c in columns if c != "timestamp"]
    if {"target", "value"} <= set(others):
        extra = set(others) - {"target", "value"}
        if extra:
            raise DataError(f"{source}: unexpected columns {sorted(extra)} in the long layout")
        names = raw["target"].astype(str).str.strip()
        empty = (names == "") | raw["target"].isna().to_numpy()
        if empty.any():
            i = int(np.argmax(empty.to_numpy()))
            raise DataError(f"{_where(i, source, csv)}: empty target name")
        values = _numbers(raw["value"], "value", source, csv, counts=False)
        keys = pd.DataFrame({"timestamp": index, "target": names.to_numpy()})
        _duplicates(keys, source, csv)
        wide = pd.DataFrame({"t": index, "target": names.to_numpy(), "v": values.to_numpy()})
        frame = wide.pivot(index="t", columns="target", values="v")
    else:
        unknown = [c for c in others if not _CLASS_COLUMN.match(c)]
        if unknown or not others:
            raise DataError(
                f"{source}: columns {unknown or others} are neither the long layout "
                "(timestamp, target, value) nor traffic counts (car, bus, truck or car_A, car_B, …)"
            )
        _duplicates(pd.DataFrame({"timestamp": index}), source, csv)
        data = {
            f"{TRAFFIC_PREFIX}{c}": _numbers(raw[c], c, source, csv, counts=True).to_numpy()
            for c in others
        }
        frame = pd.DataFrame(data, index=index)
        frame["traffic"] = frame.sum(axis=1)
    frame = frame.sort_index()
    full = pd.date_range(frame.index[0], frame.index[-1], freq=_STEP)
    out = frame.reindex(full)
    out.columns = [str(c) for c in out.columns]
    return out


def read_history(path: str | Path, timezone: str | None = None) -> pd.DataFrame:
    """Read a history file (``.csv`` or ``.parquet``) and check it with :func:`parse_history`."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such history file")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        raw = pd.read_csv(p, dtype=str, keep_default_na=False)
    elif suffix in (".parquet", ".pq"):
        raw = pd.read_parquet(p)
    else:
        raise DataError(f"{p}: history files are .csv or .parquet, not {suffix or 'no suffix'}")
    return parse_history(raw, str(p), timezone, csv=suffix == ".csv")
