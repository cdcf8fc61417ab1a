"""A results folder is replaced as a whole: an interrupted write keeps the previous results and
never leaves a folder that looks complete; CSV and Excel copies of a results folder."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ersgrid.errors import DataError, ErsgridError
from ersgrid.results import RESULT_FILES, clean_stale, export_folder, parse_formats, replacing
from ersgrid.results import folder as folder_mod

MARKERS = ("kpis.json",)


def _fill(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kpis.json").write_text(text, encoding="utf-8")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "x.txt").write_text(text, encoding="utf-8")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _siblings(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "trash-rename"])
def test_a_new_folder_replaces_the_old_one_whole(
    tmp_path: Path, exchange: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not exchange:
        monkeypatch.setattr(folder_mod, "_exchange", lambda a, b: False)
    target = tmp_path / "res"
    _fill(target, "old")
    (target / "only-in-old.txt").write_text("x", encoding="utf-8")
    with replacing(target, MARKERS) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".res.tmp-")
        assert (target / "kpis.json").read_text() == "old"  # untouched while writing
        _fill(tmp, "new")
    assert (target / "kpis.json").read_text() == "new"
    assert (target / "sub" / "x.txt").read_text() == "new"
    assert not (target / "only-in-old.txt").exists()
    assert _siblings(target) == []


def test_a_failed_write_keeps_the_previous_results(tmp_path: Path) -> None:
    target = tmp_path / "res"
    _fill(target, "old")

    def interrupted_write() -> None:
        with replacing(target, MARKERS) as tmp:
            _fill(tmp, "half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert (target / "kpis.json").read_text() == "old"
    assert _siblings(target) == []


def test_a_folder_that_holds_other_things_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "home"
    target.mkdir()
    (target / "thesis.tex").write_text("mine", encoding="utf-8")
    with pytest.raises(ErsgridError, match="holds no results"), replacing(target, MARKERS):
        pass
    assert (target / "thesis.tex").read_text() == "mine"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ErsgridError, match="is a file"), replacing(tmp_path / "file", MARKERS):
        pass


def test_stale_folders_of_dead_writers_are_cleaned_and_lost_results_put_back(
    tmp_path: Path,
) -> None:
    target = tmp_path / "res"
    dead = _dead_pid()
    # a writer killed between its two renames: no target, the previous results in its trash
    _fill(tmp_path / f".res.old-{dead}-aaaaaa", "previous")
    _fill(tmp_path / f".res.tmp-{dead}-bbbbbb", "unfinished")
    live = tmp_path / f".res.tmp-{os.getppid()}-cccccc"  # a live writer's: never touched
    live.mkdir()
    clean_stale(target)
    assert (target / "kpis.json").read_text() == "previous"
    assert _siblings(target) == [live.name]
    # with the target in place, a dead writer's trash is just deleted
    _fill(tmp_path / f".res.old-{dead}-dddddd", "older")
    clean_stale(target)
    assert (target / "kpis.json").read_text() == "previous"
    assert _siblings(target) == [live.name]


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _ersgrid(*args: str) -> list[str]:
    return [sys.executable, "-m", "ersgrid.cli", *args]


def test_kill_9_during_the_results_phase_keeps_the_previous_results(tmp_path: Path) -> None:
    """Two real `ersgrid run` processes on one --out; the second is killed (SIGKILL) as soon as
    its temporary folder appears, i.e. while it writes its results."""
    target = tmp_path / "tiny"
    args = ["run", "tiny", "--days", "0.25", "--out", str(target), "--quiet"]
    first = subprocess.run(_ersgrid(*args), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    before = _snapshot(target)
    assert set(RESULT_FILES) <= set(before)

    second = subprocess.Popen(
        _ersgrid(*args, "--seed", "11"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 600
        while not seen and second.poll() is None and time.monotonic() < deadline:
            seen = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tiny.tmp-")]
            time.sleep(0.005)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    assert seen, "the second run ended before its results phase was seen"
    assert second.returncode == -signal.SIGKILL

    assert _snapshot(target) == before  # the first run's results, whole and unchanged
    left = _siblings(target)
    assert all(name.startswith(f".tiny.tmp-{second.pid}-") for name in left), left
    for name in left:  # what the killed run left is hidden, unfinished and not complete-looking
        assert not (tmp_path / name / "kpis.json").exists()
    clean_stale(target)  # the next write of the same folder removes it
    assert _siblings(target) == []
    assert _snapshot(target) == before


def _run_folder(path: Path) -> Path:
    import pandas as pd

    path.mkdir()
    index = pd.date_range("2035-04-02", periods=3, freq="15min", tz="Asia/Tokyo", name="time")
    pd.DataFrame({"road_power_kw": [1.0, 2.0, 3.0]}, index=index).to_parquet(
        path / "timeseries.parquet"
    )
    trips = pd.DataFrame({"vehicle": ["a", "b"], "entry_time": index[:2]})
    trips.to_parquet(path / "trips.parquet", index=False)
    kpis = {"scenario": "tiny", "energy_cost": 12.5, "min_voltage_pu": None,
            "grid": {"voltage_violations": 2}, "messages": ["x", "y"]}  # fmt: skip
    (path / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    return path


def test_csv_and_xlsx_copies_of_a_run_folder(tmp_path: Path) -> None:
    import pandas as pd

    folder = _run_folder(tmp_path / "run")
    written = export_folder(folder, parse_formats("csv,xlsx"))
    assert sorted(p.name for p in written) == [
        "kpis.csv", "results.xlsx", "timeseries.csv", "trips.csv",
    ]  # fmt: skip
    ts = pd.read_csv(folder / "timeseries.csv")
    assert list(ts.columns) == ["time", "road_power_kw"]
    assert ts["time"][0] == "2035-04-02 00:00:00+09:00"
    kpis = pd.read_csv(folder / "kpis.csv")
    flat = dict(zip(kpis["kpi"], kpis["value"], strict=True))
    assert flat["grid.voltage_violations"] == "2"
    assert flat["energy_cost"] == "12.5"
    book = pd.read_excel(folder / "results.xlsx", sheet_name=None)
    assert set(book) == {"kpis", "timeseries", "trips"}
    assert list(book["timeseries"].columns) == ["time [Asia/Tokyo]", "road_power_kw"]
    assert book["timeseries"]["time [Asia/Tokyo]"][1] == pd.Timestamp("2035-04-02 00:15")
    assert book["trips"]["entry_time [Asia/Tokyo]"][0] == pd.Timestamp("2035-04-02 00:00")
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_export_of_a_comparison_and_of_a_folder_that_is_none(tmp_path: Path) -> None:
    import pandas as pd

    base = tmp_path / "cmp"
    base.mkdir()
    _run_folder(base / "mpc")
    _run_folder(base / "tou")
    (base / "compare.json").write_text(
        json.dumps({"mpc": {"energy_cost": 1.0}, "tou": {"energy_cost": 2.0}}), encoding="utf-8"
    )
    export_folder(base, ["csv"])
    side = pd.read_csv(base / "compare.csv")
    assert list(side.columns) == ["kpi", "mpc", "tou"]
    assert (base / "mpc" / "trips.csv").is_file()
    with pytest.raises(DataError, match=r"no kpis\.json or compare\.json"):
        export_folder(tmp_path, ["csv"])
    with pytest.raises(ErsgridError, match="choose csv, xlsx"):
        parse_formats("pdf")


def test_a_sheet_beyond_excels_rows_is_an_error_naming_csv(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from ersgrid.results.export import EXCEL_MAX_ROWS, _write_xlsx

    big = pd.DataFrame({"x": np.zeros(EXCEL_MAX_ROWS)})
    with pytest.raises(DataError, match="export csv instead"):
        _write_xlsx(tmp_path / "r.xlsx", {"trips": big})
    assert not (tmp_path / "r.xlsx").exists()
