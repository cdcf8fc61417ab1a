"""A run's end state in its results folder (``end_state.npz``), and reading it back.

One NumPy archive, no pickles: the vehicles on the road (the twin's state matrices), the
batteries' energy, the last planning step's meters, the month's peak and the strategy's
memory as arrays, and the rest (scenario, fingerprint, strategy, end time) as one JSON
string. ``ersgrid run ... --continue-from RESULTS_DIR`` starts from it.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ersgrid.errors import DataError
from ersgrid.run.state import RunState
from ersgrid.twin.road import BlockReport, TwinState

__all__ = ["END_STATE_FILE", "read_end_state", "write_end_state"]

END_STATE_FILE = "end_state.npz"
"""File name of the end state in a results folder."""

FORMAT = 1
"""Version of the archive's layout."""


def write_end_state(state: RunState, path: Path) -> None:
    """Write ``state`` to ``path`` (``.npz``; inside a results folder being written).

    Parameters
    ----------
    state : RunState
    path : Path
        The archive to write.
    """
    arrays: dict[str, Any] = {
        "twin_floats": state.twin.floats,
        "twin_ints": state.twin.ints,
        "stored_kwh": np.asarray(state.stored_kwh, dtype=np.float64),
    }
    if state.import_kw is not None:
        arrays["import_kw"] = np.asarray(state.import_kw, dtype=np.float64)
    last: dict[str, Any] | None = None
    if state.last is not None:
        last = {}
        for f in dataclasses.fields(BlockReport):
            value = getattr(state.last, f.name)
            if isinstance(value, np.ndarray):
                arrays[f"last_{f.name}"] = value
            else:
                last[f.name] = value
    for key, value in state.strategy_state.items():
        arrays[f"strategy_{key}"] = np.asarray(value)
    meta = {
        "format": FORMAT,
        "scenario": state.scenario,
        "fingerprint": state.fingerprint,
        "strategy": state.strategy,
        "end": pd.Timestamp(state.end).isoformat(),
        "timezone": str(pd.Timestamp(state.end).tz),
        "twin_step": state.twin.step,
        "twin_dt_s": state.twin.dt_s,
        "peak_month": state.peak_month,
        "peak_import_kw": state.peak_import_kw,
        "last": last,
        "strategy_keys": sorted(state.strategy_state),
    }
    arrays["meta"] = np.asarray(json.dumps(meta))
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)


def read_end_state(source: str | Path) -> RunState:
    """The end state of a results folder (or of an ``end_state.npz`` file).

    Raises
    ------
    DataError
        If there is no end state there, or it is not one ersgrid wrote (naming the path and
        what to do).
    """
    path = Path(source)
    if path.is_dir():
        path = path / END_STATE_FILE
    if not path.is_file():
        raise DataError(
            f"{str(path)!r}: no end state found; give the results folder of a run made "
            "by this version of ersgrid (it writes end_state.npz beside kpis.json)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise DataError(
                    f"{str(path)!r}: end state format {meta.get('format')!r}, this version "
                    f"reads {FORMAT}: rerun the previous block with this version"
                )
            end = pd.Timestamp(meta["end"]).tz_convert(meta["timezone"])
            last = None
            if meta["last"] is not None:
                fields: dict[str, Any] = dict(meta["last"])
                for f in dataclasses.fields(BlockReport):
                    if f"last_{f.name}" in data:
                        fields[f.name] = np.asarray(data[f"last_{f.name}"], dtype=np.float64)
                last = BlockReport(**fields)
            return RunState(
                scenario=str(meta["scenario"]),
                fingerprint=str(meta["fingerprint"]),
                strategy=str(meta["strategy"]),
                end=end,
                twin=TwinState(
                    step=int(meta["twin_step"]),
                    dt_s=float(meta["twin_dt_s"]),
                    floats=np.asarray(data["twin_floats"], dtype=np.float64),
                    ints=np.asarray(data["twin_ints"], dtype=np.int64),
                ),
                stored_kwh=np.asarray(data["stored_kwh"], dtype=np.float64),
                last=last,
                import_kw=(
                    np.asarray(data["import_kw"], dtype=np.float64) if "import_kw" in data else None
                ),
                peak_month=str(meta["peak_month"]),
                peak_import_kw=float(meta["peak_import_kw"]),
                strategy_state={
                    key: np.asarray(data[f"strategy_{key}"]) for key in meta["strategy_keys"]
                },
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        raise DataError(
            f"{str(path)!r} is not an end state ersgrid wrote ({type(err).__name__}: {err}); "
            "rerun the previous block"
        ) from None
