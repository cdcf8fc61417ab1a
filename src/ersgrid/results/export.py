"""Copies of a results folder's KPIs, time series and trips as CSV or Excel, beside the Parquet.

A run's folder gets ``kpis.csv`` (key, value), ``timeseries.csv`` and ``trips.csv``, or one
workbook ``results.xlsx`` with the sheets ``kpis``, ``timeseries`` and ``trips``. A
comparison's folder gets them in each run's folder, and the KPIs side by side at its top
(``compare.csv`` or ``compare.xlsx``, one column per run). Times in CSV are local times with
their UTC offset (``2035-04-02 09:00:00+09:00``); Excel has no time zones, so there they are
local wall-clock times and the column's name says the zone (``time [Asia/Tokyo]``). The
metered passes stay in Parquet only (one row per vehicle and segment: too many for a
spreadsheet).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ersgrid.errors import DataError, ErsgridError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXCEL_MAX_ROWS", "EXPORT_FORMATS", "export_folder", "parse_formats"]

EXPORT_FORMATS = ("csv", "xlsx")
EXCEL_MAX_ROWS = 1_048_576
"""Rows of an Excel sheet, its header included."""


def parse_formats(text: str) -> tuple[str, ...]:
    """``"csv,xlsx"`` -> ``("csv", "xlsx")``, each checked.

    Raises
    ------
    ErsgridError
        Naming a format that is not one of :data:`EXPORT_FORMATS`.
    """
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad or not formats:
        raise ErsgridError(
            f"export format {','.join(bad) or repr(text)}: choose csv, xlsx or csv,xlsx"
        )
    return formats


def _flat(kpis: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """One level: a nested mapping becomes ``outer.inner`` keys, a list its JSON text."""
    out: dict[str, Any] = {}
    for key, value in kpis.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        elif isinstance(value, list | tuple):
            out[prefix + key] = json.dumps(value, ensure_ascii=False)
        else:
            out[prefix + key] = value
    return out


def _replace_file(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary name in the same folder, then rename: never half a file."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {str(path)!r}: {err}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {str(path)!r}: {err}") from None


def _for_excel(frame: pd.DataFrame) -> pd.DataFrame:
    """Local wall-clock times (Excel has no time zone), the zone in the column's name."""
    import pandas as pd

    out = frame.copy()
    names: dict[str, str] = {}
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_localize(None)
            names[str(col)] = f"{col} [{dtype.tz}]"
    return out.rename(columns=names)


def _kpi_frame(kpis_by_run: dict[str, dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    flat = {name: _flat(k) for name, k in kpis_by_run.items()}
    keys = list(dict.fromkeys(key for k in flat.values() for key in k))
    frame = pd.DataFrame({name: [k.get(key) for key in keys] for name, k in flat.items()})
    frame.insert(0, "kpi", keys)
    return frame


def _write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    import pandas as pd

    for name, frame in sheets.items():
        if len(frame) + 1 > EXCEL_MAX_ROWS:
            raise DataError(
                f"{path.name}: the {name} sheet would have {len(frame):,} rows, more than an "
                f"Excel sheet holds ({EXCEL_MAX_ROWS - 1:,}); export csv instead"
            )
    if importlib.util.find_spec("openpyxl") is None:  # pandas' xlsx engine
        raise ErsgridError("xlsx export needs openpyxl: pip install 'ersgrid[export]'")

    def write(tmp: Path) -> None:
        with pd.ExcelWriter(tmp, engine="openpyxl") as book:
            for name, frame in sheets.items():
                _for_excel(frame).to_excel(book, sheet_name=name, index=False)

    return _replace_file(path, write)


def _export_run(folder: Path, formats: Sequence[str]) -> list[Path]:
    kpis = _read_json(folder / "kpis.json")
    timeseries = _read_parquet(folder / "timeseries.parquet").reset_index()
    trips = _read_parquet(folder / "trips.parquet")
    kpi_rows = _kpi_frame({"value": kpis})
    written: list[Path] = []
    if "csv" in formats:
        for name, frame in (("kpis", kpi_rows), ("timeseries", timeseries), ("trips", trips)):

            def write(tmp: Path, frame: pd.DataFrame = frame) -> None:
                frame.to_csv(tmp, index=False)

            written.append(_replace_file(folder / f"{name}.csv", write))
    if "xlsx" in formats:
        sheets = {"kpis": kpi_rows, "timeseries": timeseries, "trips": trips}
        written.append(_write_xlsx(folder / "results.xlsx", sheets))
    return written


def export_folder(folder: str | Path, formats: Sequence[str]) -> list[Path]:
    """Write CSV and/or Excel copies into a run's or a comparison's results folder.

    Parameters
    ----------
    folder : str or Path
        A folder written by ``ersgrid run`` (``kpis.json``) or ``ersgrid compare``
        (``compare.json``).
    formats : sequence of str
        ``csv`` and/or ``xlsx``.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    DataError
        If the folder is not a results folder or a file in it cannot be read, or a sheet
        would exceed Excel's row limit.
    """
    base = Path(folder)
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad:
        raise ErsgridError(f"export format {','.join(bad)}: choose csv and/or xlsx")
    if (base / "kpis.json").is_file():
        return _export_run(base, formats)
    if not (base / "compare.json").is_file():
        raise DataError(
            f"{str(base)!r} holds no kpis.json or compare.json: give a folder written by "
            "`ersgrid run` or `ersgrid compare`"
        )
    by_run: dict[str, dict[str, Any]] = _read_json(base / "compare.json")
    written: list[Path] = []
    for name in by_run:
        if (base / name / "kpis.json").is_file():
            written += _export_run(base / name, formats)
    side_by_side = _kpi_frame(by_run)
    if "csv" in formats:
        written.append(
            _replace_file(base / "compare.csv", lambda tmp: side_by_side.to_csv(tmp, index=False))
        )
    if "xlsx" in formats:
        written.append(_write_xlsx(base / "compare.xlsx", {"kpis": side_by_side}))
    return written
