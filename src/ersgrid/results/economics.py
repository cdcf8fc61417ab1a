"""``economics.json`` of a results folder: the run's economics (see
:mod:`ersgrid.study.economics`) from its scenario, KPIs and signed statements."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ersgrid.errors import DataError
from ersgrid.jsonsafe import json_safe

if TYPE_CHECKING:
    from ersgrid.scenario.schema import Scenario
    from ersgrid.study.economics import Economics
    from ersgrid.study.sizing import Sizing
    from ersgrid.study.typical_days import RepresentativeYear

__all__ = [
    "ECONOMICS_FILE",
    "SIZING_FILE",
    "SIZING_PAGE",
    "TYPICAL_DAYS_FILE",
    "folder_economics",
    "read_statements",
    "write_economics",
    "write_sizing",
    "write_year",
]

ECONOMICS_FILE = "economics.json"
SIZING_FILE = "sizing.json"
SIZING_PAGE = "sizing.html"
TYPICAL_DAYS_FILE = "typical_days.json"


def read_statements(folder: Path) -> list[dict[str, Any]]:
    """Every signed settlement statement of the folder's ledger; empty without a ledger."""
    if not (folder / "ledger.sqlite").is_file():
        return []
    from ersgrid.ledger.storage import LedgerStore, database_url

    store = LedgerStore(database_url(folder))
    try:
        return [
            json.loads(body)
            for period, *_ in store.settlement_rows()
            for _, body, _ in store.statement_rows(period)
        ]
    finally:
        store.close()


def economics_of(
    scenario: Scenario, kpis: dict[str, Any], folder: Path, reserve_revenue: float = 0.0
) -> Economics:
    """The economics of a run whose ledger, trips and time series are in ``folder``."""
    from ersgrid.study.economics import compute_economics

    trips = timeseries = None
    if (folder / "trips.parquet").is_file() and (folder / "timeseries.parquet").is_file():
        import pandas as pd

        try:
            trips = pd.read_parquet(folder / "trips.parquet")
            timeseries = pd.read_parquet(folder / "timeseries.parquet")
        except (OSError, ValueError) as err:
            raise DataError(
                f"cannot read the trips or time series of {str(folder)!r}: {err}"
            ) from None
    return compute_economics(
        scenario, kpis, read_statements(folder), reserve_revenue, trips, timeseries
    )


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {str(path)!r} ({what}): {err}") from None


def folder_economics(folder: Path, reserve: Path | None = None) -> Economics:
    """The economics of a run's results folder (``kpis.json``, ``scenario.yaml``, its ledger).

    Parameters
    ----------
    folder : Path
        A folder written by ``ersgrid run``.
    reserve : Path, optional
        ``reserve.json`` of ``ersgrid reserve`` on the same scenario and days: its capacity
        payment (``revenue``) is added to the road's income.

    Raises
    ------
    DataError
        If the folder or a file in it is missing or unreadable.
    """
    from ersgrid.scenario.loader import load_scenario

    if not folder.is_dir():
        raise DataError(f"{str(folder)!r} is not a folder: give a results folder of `ersgrid run`")
    if not (folder / "kpis.json").is_file():
        raise DataError(
            f"{str(folder)!r} holds no kpis.json: give a results folder of `ersgrid run` (for "
            "a comparison, one of its strategy folders)"
        )
    kpis = _read_json(folder / "kpis.json", "the run's KPIs")
    if not (folder / "scenario.yaml").is_file():
        raise DataError(f"{str(folder)!r} holds no scenario.yaml: run `ersgrid run` again")
    scenario = load_scenario(str(folder / "scenario.yaml"))
    revenue = 0.0
    if reserve is not None:
        data = _read_json(reserve, "a reserve study")
        if not isinstance(data, dict) or not isinstance(data.get("revenue"), int | float):
            raise DataError(
                f"{str(reserve)!r}: no revenue figure; give reserve.json of `ersgrid reserve`"
            )
        revenue = float(data["revenue"])
    return economics_of(scenario, kpis, folder, revenue)


def write_economics(folder: Path, economics: Economics) -> Path:
    """Write ``economics.json`` into ``folder`` through a temporary name (never half a file)."""
    return _write_json(folder / ECONOMICS_FILE, economics.as_dict())


def _make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents (DataError naming it if it cannot be)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create {str(folder)!r}: {err}") from None


def write_year(folder: Path, year: RepresentativeYear, economics: Economics) -> Path:
    """Write a representative year into ``folder`` (created if missing): ``typical_days.json``
    (the typical days, their weights, the days each stands for, and each one's KPIs),
    ``kpis.json`` (the year's combined KPIs) and ``economics.json``; returns the folder.

    Raises
    ------
    DataError
        If the folder cannot be created or a file cannot be written.
    """
    _make_folder(folder)
    days = year.typical.as_dict()
    for entry, kpis in zip(days["typical_days"], year.day_kpis, strict=True):
        entry["kpis"] = kpis
    days["strategy"] = year.strategy
    days["wall_time_s"] = year.wall_time_s
    _write_json(folder / TYPICAL_DAYS_FILE, days)
    _write_json(folder / "kpis.json", year.kpis)
    write_economics(folder, economics)
    return folder


def write_sizing(folder: Path, sizing: Sizing) -> Path:
    """Write ``sizing.json`` (sizes, annual cost and its breakdown, the profile, the typical
    days) and ``sizing.html`` (the profile, plotly inlined) into ``folder`` (created if
    missing); returns the folder.

    Raises
    ------
    DataError
        If the folder cannot be created or a file cannot be written.
    """
    from ersgrid.report.sizing import write_sizing_page

    _make_folder(folder)
    _write_json(folder / SIZING_FILE, sizing.as_dict())
    try:
        write_sizing_page(folder / SIZING_PAGE, sizing)
    except OSError as err:
        raise DataError(f"cannot write {str(folder / SIZING_PAGE)!r}: {err}") from None
    return folder


def _write_json(path: Path, data: Any) -> Path:
    text = json.dumps(json_safe(data), indent=2, ensure_ascii=False) + "\n"
    folder = path.parent
    tmp = folder / f".{path.stem}.tmp-{os.getpid()}{path.suffix}"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        raise DataError(f"cannot write {str(path)!r}: {err}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
