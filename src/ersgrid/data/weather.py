"""Readers of the offline weather files that ship with the installed packages.

- a TMY3 typical year shipped with pvlib (US stations);
- a German test reference year (DWD TRY 2010, 15 climate regions) shipped with demandlib.

Both give 8760 hourly rows; :func:`on_index` maps them onto a run's steps by local clock time.
The corridor's weather itself is built in :mod:`ersgrid.world.weather`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import DataError

__all__ = ["hour_of_year", "on_index", "package_file", "read_dwd_try", "read_tmy"]

FloatArray = npt.NDArray[np.float64]


def hour_of_year(index: pd.DatetimeIndex) -> FloatArray:
    """Local clock time as hours since 1 January 00:00 of a 365-day year [h].

    29 February is mapped onto 28 February so leap years reuse a typical year's data.
    """
    doy = np.asarray(index.dayofyear, dtype=np.float64)
    leap = np.asarray(index.is_leap_year)
    doy = np.where(leap & (doy >= 60), doy - 1.0, doy)
    return np.asarray(
        (doy - 1.0) * 24.0 + np.asarray(index.hour) + np.asarray(index.minute) / 60.0,
        dtype=np.float64,
    )


def on_index(hourly: FloatArray, index: pd.DatetimeIndex) -> FloatArray:
    """Interpolate 8760 hour-ending values (centred at h - 0.5) onto the mid-point of each
    step of ``index``, periodically over the year."""
    centres = np.arange(8760, dtype=np.float64) + 0.5
    step_h = (index[1] - index[0]).total_seconds() / 3600.0 if len(index) > 1 else 0.25
    where = hour_of_year(index) + step_h / 2.0
    return np.asarray(np.interp(where, centres, hourly, period=8760.0), dtype=np.float64)


def read_tmy(path: Path) -> pd.DataFrame:
    """Read a TMY3 file into 8760 hourly rows (hour-ending, local standard time).

    Returns
    -------
    DataFrame with ``ghi_w_m2``, ``temp_air_c``, ``wind_speed_ms``, ``pressure_pa``.
    """
    import pvlib

    try:
        data, _meta = pvlib.iotools.read_tmy3(str(path), map_variables=True)
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise DataError(f"{path}: not a readable TMY3 file ({err})") from None
    if len(data) != 8760:
        raise DataError(f"{path}: a TMY3 file has 8760 hourly rows, found {len(data)}")
    return pd.DataFrame(
        {
            "ghi_w_m2": data["ghi"].to_numpy(float),
            "temp_air_c": data["temp_air"].to_numpy(float),
            "wind_speed_ms": data["wind_speed"].to_numpy(float),
            "pressure_pa": data["pressure"].to_numpy(float) * 100.0,
        }
    )


_TRY_COLUMNS = ("RG", "IS", "MM", "DD", "HH", "N", "WR", "WG", "t", "p", "x", "RF", "W", "B", "D")


def read_dwd_try(path: Path) -> pd.DataFrame:
    """Read a DWD test-reference-year file (TRY 2010 format) into 8760 hourly rows.

    Global horizontal irradiance is the sum of the file's direct (B) and diffuse (D)
    horizontal irradiance. Hours are 1..24 CET, hour-ending.

    Raises
    ------
    DataError
        Naming the line and column of the first value that is not a number.
    """
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err})") from None
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "***") + 1
    except StopIteration:
        raise DataError(f"{path}: no '***' line before the data; not a DWD TRY file") from None
    rows: list[list[float]] = []
    for lineno, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < len(_TRY_COLUMNS):
            raise DataError(
                f"{path}, line {lineno}: {len(fields)} values, a TRY row has {len(_TRY_COLUMNS)}+"
            )
        row = []
        for col, text in zip(_TRY_COLUMNS, fields, strict=False):
            try:
                row.append(float(text))
            except ValueError:
                raise DataError(
                    f"{path}, line {lineno}, column {col}: {text!r} is not a number"
                ) from None
        rows.append(row)
    if len(rows) != 8760:
        raise DataError(f"{path}: a TRY file has 8760 hourly rows, found {len(rows)}")
    arr = np.asarray(rows)
    values = {name: arr[:, i] for i, name in enumerate(_TRY_COLUMNS)}
    return pd.DataFrame(
        {
            "ghi_w_m2": values["B"] + values["D"],
            "temp_air_c": values["t"],
            "wind_speed_ms": values["WG"],
            "pressure_pa": values["p"] * 100.0,
        }
    )


def package_file(package: str, *parts: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise DataError(
            f"the weather source needs the package {package!r}: pip install 'ersgrid[grid]'"
        ) from None
    path = Path(str(root.joinpath(*parts)))
    if not path.is_file():
        raise DataError(f"{package} does not ship {'/'.join(parts)!r}")
    return path
