"""The forecaster a strategy calls: P10/P50/P90 of any target from any issue time.

:class:`Forecaster` holds the history of every target (generated from a scenario or imported
from a user's files), fits one model per target on the data before the issue time, re-fits as
time moves on (weekly by default, and whenever asked about a time before its last fit), and
never reads a value at or after the issue time.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
import os
import pickle
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import DataError, ErsgridError
from ersgrid.forecast.features import PROFILE_FEATURE, covariates
from ersgrid.forecast.models import QUANTILE_COLUMNS, TargetModel, make_model
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario
from ersgrid.world.history import (
    PROFILE_PREFIX,
    TRAFFIC_PREFIX,
    generate_history,
    history_frame,
    history_index,
)
from ersgrid.world.renewables import kind_shares
from ersgrid.world.world import build_world

__all__ = [
    "CACHE_ENV",
    "Forecaster",
    "LearnedTraffic",
    "cache_dir",
    "split_renewables",
    "target_names",
]

STEP = pd.Timedelta(minutes=15)
NOT_TARGETS = ("wx:", "wxf:", PROFILE_PREFIX)
WEEK = pd.Timedelta(days=7)
ModelSpec = str | Callable[[], TargetModel]
FloatArray = npt.NDArray[np.float64]
RENEWABLE_KINDS = ("pv", "wind")
CACHE_ENV = "ERSGRID_CACHE_DIR"
MODEL_FORMAT = "2"
"""Part of the model cache key: bump it when the features or the fitted state of a built-in
model change, so fits stored by an earlier format are not loaded (2: the day's mean forecast
temperature, targets learnt relative to their profile)."""


def cache_dir() -> Path:
    """Where fitted forecast models are kept between runs: ``$ERSGRID_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/ersgrid``, else ``~/.cache/ersgrid``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ersgrid"


def target_names(history: pd.DataFrame) -> list[str]:
    """The forecastable columns of a history (everything but weather and profiles)."""
    return [c for c in history.columns if not str(c).startswith(NOT_TARGETS)]


class Forecaster:
    """Forecasts of every target in a history, issued at any time.

    Parameters
    ----------
    history : DataFrame
        Regular 15-min, tz-aware index; one column per target (see
        :func:`~ersgrid.world.history.generate_history`), optional weather forecast columns
        ``wxf:*``, and optional known profiles ``profile:<target>`` (a standard load profile,
        a planned output: values known in advance, used as a feature of that target only).
        Rows after an issue time may be present (e.g. the weather forecast of the
        planning horizon); target values there are never read for that issue time.
    country : str or None
        ISO code for public holidays and holiday periods (the scenario's
        ``traffic.holidays_country``).
    model : str or callable
        ``gbm`` (default), ``hgb``, ``naive``, ``package.module:ClassName``, or a factory
        returning a fresh :class:`~ersgrid.forecast.models.TargetModel`.
    refit_every : Timedelta
        Re-fit a target's model once its last fit is this old.
    direction_a_share : float [-]
        Split of class counts without a direction (``traffic:<class>``) into directions A and B.
    model_cache : Path, optional
        Folder to keep fitted models in (see :func:`cache_dir`). A model is stored under a hash
        of the ersgrid version, :data:`MODEL_FORMAT`, the model name, the target, the fit time
        and the whole history (so any change of the data refits); only models given by name
        are cached.
    """

    def __init__(
        self,
        history: pd.DataFrame,
        country: str | None,
        model: ModelSpec = "gbm",
        refit_every: pd.Timedelta = WEEK,
        direction_a_share: float = 0.5,
        model_cache: Path | None = None,
    ) -> None:
        if not isinstance(history.index, pd.DatetimeIndex) or history.index.tz is None:
            raise DataError("history needs a tz-aware DatetimeIndex (local time of the corridor)")
        if len(history) > 1 and not (np.diff(history.index) == STEP).all():
            raise DataError("history must be on a regular 15-min grid without duplicate steps")
        self.history = history.copy()
        self.country = country
        self._factory: Callable[[], TargetModel] = (
            (lambda: make_model(model)) if isinstance(model, str) else model
        )
        self.refit_every = refit_every
        self.direction_a_share = direction_a_share
        self._models: dict[str, tuple[pd.Timestamp, TargetModel]] = {}
        self._cov = covariates(history.index, country, history)
        self.fits = 0
        self.model_cache = model_cache
        self._model_name = model if isinstance(model, str) else None
        self._history_hash: str | None = None

    @classmethod
    def for_scenario(
        cls,
        scenario: Scenario,
        start: dt.date | None = None,
        days: float = 2.0,
        history_days: int = 365,
        model: ModelSpec = "gbm",
    ) -> Forecaster:
        """A forecaster with a generated history of ``history_days`` before ``start``.

        The history runs on to ``start + days + 2`` so the weather forecast covers every
        planning horizon of a ``days``-long run; the targets of those steps are not read
        before their time (a strategy may also :meth:`observe` what the twin measured).
        """
        first = start or scenario.simulation.start
        ahead = math.ceil(days) + 2
        end = first + dt.timedelta(days=ahead)
        history = generate_history(scenario, end=end, days=history_days + ahead)
        return cls(
            history,
            scenario.traffic.holidays_country,
            model=model,
            direction_a_share=scenario.traffic.direction_a_share,
        )

    @property
    def targets(self) -> list[str]:
        """Names of the targets this forecaster can forecast."""
        return target_names(self.history)

    def observe(self, actuals: pd.DataFrame) -> None:
        """Record measured values (e.g. the twin's counts) over the history's own rows.

        Models fitted before are kept until their next re-fit; forecasts read the new values
        at once (through the lags).
        """
        outside = ~actuals.index.isin(self.history.index)
        if outside.any():
            raise DataError(
                f"observed step {actuals.index[outside][0]} lies outside the history "
                f"({self.history.index[0]} … {self.history.index[-1]}) or off its 15-min grid"
            )
        unknown = [c for c in actuals.columns if c not in self.history.columns]
        if unknown:
            raise DataError(f"observed columns {unknown} are not targets of this forecaster")
        self.history.loc[actuals.index, actuals.columns] = actuals
        self._history_hash = None

    def _check(self, target: str, issue_time: pd.Timestamp) -> pd.Timestamp:
        if target not in self.history.columns or target.startswith(NOT_TARGETS):
            raise ErsgridError(f"unknown forecast target {target!r}; known: {self.targets}")
        t = pd.Timestamp(issue_time)
        tz = pd.DatetimeIndex(self.history.index).tz
        t = t.tz_localize(tz) if t.tz is None else t
        if (t - self.history.index[0]) % STEP != pd.Timedelta(0):
            raise ErsgridError(f"issue time {t} is not on the 15-min grid of the history")
        return t

    def model_for(self, target: str, issue_time: pd.Timestamp) -> TargetModel:
        """The model of ``target`` fitted on data before ``issue_time`` (re-fitted if stale)."""
        t = self._check(target, issue_time)
        cached = self._models.get(target)
        if cached is not None and cached[0] <= t < cached[0] + self.refit_every:
            return cached[1]
        y = self.history[target].loc[self.history.index < t]
        if y.notna().sum() == 0:
            raise DataError(f"{target}: no history before {t}")
        path = self._cache_path(target, t)
        model: TargetModel | None = None
        if path is not None and path.exists():
            try:
                model = pickle.loads(path.read_bytes())
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
                model = None  # a torn or stale file: fit again
        if model is None:
            model = self._factory()
            model.fit(y, self._covariates_of(target, self._cov).loc[y.index])
            self.fits += 1
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(pickle.dumps(model))
                tmp.replace(path)
        self._models[target] = (t, model)
        return model

    def horizon_steps(self, target: str, issue_time: pd.Timestamp) -> int:
        """Most steps past its issue a forecast of ``target`` reaches (its model's
        ``max_horizon_steps``): the model in memory's, else the one of ``issue_time``."""
        cached = self._models.get(target)
        model = cached[1] if cached is not None else self.model_for(target, issue_time)
        return int(model.max_horizon_steps)

    def _cache_path(self, target: str, t: pd.Timestamp) -> Path | None:
        """File of the model of ``target`` fitted at ``t`` in the model cache, if any."""
        if self.model_cache is None or self._model_name is None:
            return None
        if self._history_hash is None:
            rows = pd.util.hash_pandas_object(self.history, index=True).to_numpy()
            digest = hashlib.sha256(rows.tobytes())
            digest.update("|".join(map(str, self.history.columns)).encode())
            self._history_hash = digest.hexdigest()
        key = "|".join(
            [
                version("ersgrid"),
                MODEL_FORMAT,
                self._model_name,
                target,
                t.isoformat(),
                self._history_hash,
            ]
        )
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.model_cache / "forecast-models" / f"{name}.pkl"

    def predict(self, target: str, issue_time: pd.Timestamp, horizon_steps: int) -> pd.DataFrame:
        """P10, P50, P90 of ``target`` for ``horizon_steps`` 15-min steps from ``issue_time``.

        Parameters
        ----------
        target : str
            A column of the history, e.g. ``traffic``, ``traffic:truck_A``, ``demand``, ``pv``.
        issue_time : Timestamp
            Start of the first forecast step; only values of earlier steps are used.
        horizon_steps : int [steps]
            Number of 15-min steps (at most the model's ``max_horizon_steps``, 192 = 48 h).

        Returns
        -------
        DataFrame
            Columns ``p10``, ``p50``, ``p90`` in the target's unit, indexed by step start.
        """
        t = self._check(target, issue_time)
        model = self.model_for(target, t)
        if not 1 <= horizon_steps <= model.max_horizon_steps:
            raise ErsgridError(
                f"horizon_steps = {horizon_steps}: {model.name} serves 1 to "
                f"{model.max_horizon_steps} steps ahead without looking at the future"
            )
        index = pd.date_range(t, periods=horizon_steps, freq=STEP)
        y_known = self.history[target].loc[self.history.index < t]
        cov = self._cov
        if index[-1] > cov.index[-1]:
            full = pd.date_range(cov.index[0], index[-1], freq=STEP)
            cov = covariates(full, self.country, self.history.reindex(full))
        return model.predict(y_known, self._covariates_of(target, cov), index)

    def _covariates_of(self, target: str, cov: pd.DataFrame) -> pd.DataFrame:
        """The shared covariates plus the target's own known profile (``profile:<target>``)."""
        column = f"{PROFILE_PREFIX}{target}"
        if column not in self.history.columns:
            return cov
        return cov.assign(**{PROFILE_FEATURE: self.history[column].reindex(cov.index)})

    def issued_every(
        self, target: str, index: pd.DatetimeIndex, every_steps: int = 96
    ) -> pd.DataFrame:
        """Forecasts of ``target`` over ``index`` as they were known, issued every ``every_steps``.

        For plotting forecast against actual over a run (the report): each block of
        ``every_steps`` steps comes from the forecast issued at its first step.

        Returns
        -------
        DataFrame
            ``p10``, ``p50``, ``p90`` on ``index``, plus ``issued`` (issue time of each row).
        """
        parts = []
        for start in range(0, len(index), every_steps):
            block = index[start : start + every_steps]
            q = self.predict(target, block[0], len(block))
            parts.append(q.assign(issued=block[0]))
        return pd.concat(parts)

    def traffic_forecast(
        self, issue_time: pd.Timestamp, horizon_steps: int, quantile: str = "p50"
    ) -> pd.DataFrame:
        """Vehicles per step by class and direction, the layout of ``expected_volume``.

        Parameters
        ----------
        issue_time : Timestamp
        horizon_steps : int [steps]
        quantile : {"p10", "p50", "p90"}

        Returns
        -------
        DataFrame [veh/step]
            Columns ``<class>_<direction>`` (e.g. ``truck_A``).
        """
        if quantile not in QUANTILE_COLUMNS:
            raise ErsgridError(f"quantile {quantile!r}: use one of {QUANTILE_COLUMNS}")
        columns = [c for c in self.history.columns if str(c).startswith(TRAFFIC_PREFIX)]
        if not columns:
            raise ErsgridError("the history has no traffic:<class>_<direction> columns")
        out: dict[str, pd.Series] = {}
        for column in columns:
            name = column[len(TRAFFIC_PREFIX) :]
            q = self.predict(column, issue_time, horizon_steps)[quantile]
            if name.endswith(("_A", "_B")):
                out[name] = q
            else:
                out[f"{name}_A"] = q * self.direction_a_share
                out[f"{name}_B"] = q * (1.0 - self.direction_a_share)
        return pd.DataFrame(out)


class _RunLike(Protocol):
    """What :class:`LearnedTraffic` reads of the run context (a ``RunContext``)."""

    scenario: Scenario
    index: pd.DatetimeIndex

    @property
    def layout(self) -> Layout: ...


_HISTORIES: dict[tuple[str, dt.date, int, int], pd.DataFrame] = {}


def _run_history(scenario: Scenario, start: dt.date, days: int, history_days: int) -> pd.DataFrame:
    """History for the forecasts of a run: traffic by class (directions summed: the generator
    splits them by a fixed share, so one model per class learns the same at half the cost),
    PV and wind with their weather, and the weather forecast. Kept for the last few runs."""
    key = (scenario.model_dump_json(), start, days, history_days)
    if key in _HISTORIES:
        return _HISTORIES[key]
    end = start + dt.timedelta(days=days)
    world = build_world(scenario, history_index(scenario, end, history_days + days), history=True)
    full = history_frame(world, targets=("traffic", "renewables"))
    frame: dict[str, pd.Series] = {}
    for column in full.columns:
        name = str(column)
        if name.startswith(TRAFFIC_PREFIX):
            klass = f"{TRAFFIC_PREFIX}{name[len(TRAFFIC_PREFIX) :].rsplit('_', 1)[0]}"
            frame[klass] = frame[klass] + full[column] if klass in frame else full[column]
        elif name in RENEWABLE_KINDS or name.startswith(("wx:", "wxf:")):
            frame[name] = full[column]
    out = pd.DataFrame(frame, index=full.index)
    if len(_HISTORIES) >= 2:
        _HISTORIES.pop(next(iter(_HISTORIES)))
    _HISTORIES[key] = out
    return out


def _coverage_notes(history: pd.DataFrame, start: pd.Timestamp, wanted_days: int) -> list[str]:
    """Say which targets have less history before ``start`` than ``wanted_days``."""
    notes = []
    before = history.loc[history.index < start]
    for column in before.columns:
        name = str(column)
        if name.startswith(("wx:", "wxf:")):
            continue
        known = before[column].notna()
        days = float(known.sum()) * STEP / pd.Timedelta(days=1)
        if days < 0.95 * wanted_days:
            first = before.index[known.to_numpy()][0] if known.any() else None
            since = f" (from {first:%Y-%m-%d})" if first is not None else ""
            notes.append(
                f"forecasts of {name} learn from {days:.1f} days of data before the run{since}, "
                f"not the {wanted_days} asked for: the model trains on what there is, and "
                "its forecasts are the weaker for it (a week is the least it can use: its "
                "features include the value a week before)"
            )
    return notes


def split_renewables(
    scenario: Scenario, sub_ids: list[str], kind: str, total_kw: FloatArray
) -> FloatArray:
    """Share a forecast of all plants of ``kind`` (``pv``, ``wind``) out to substations [kW],
    by the plants' AC ratings (:func:`ersgrid.world.renewables.kind_shares`).

    Returns
    -------
    ndarray [kW], shape (steps, substations)
    """
    if kind not in RENEWABLE_KINDS:
        raise ErsgridError(f"unknown renewable kind {kind!r}; known: {RENEWABLE_KINDS}")
    shares = kind_shares(scenario, kind, sub_ids)
    out: FloatArray = np.asarray(total_kw, dtype=np.float64)[:, None] * shares[None, :]
    return out


class LearnedTraffic:
    """Traffic and renewable forecasts for the ``mpc`` strategy (its ``TrafficForecaster``
    protocol, plus :meth:`renewables`).

    ``MPC()`` plans on these by default: models trained on a year of history generated
    before the run's first day (the history counts the world's traffic intensity, which the
    twin draws from, or holds the user's measured counts). Each call returns the chosen
    quantile of the traffic by class and direction for run steps ``start .. stop - 1``: steps
    from the issue step on come from the forecast issued then; steps before it (vehicles
    already on the road) from the forecast issued at ``start``. Models are fitted once per
    target (the first issue of a run; again only after ``refit_every`` of run time) and kept
    on disk in :func:`cache_dir`, so a run of the same scenario and start does not fit again.

    Parameters
    ----------
    model : str or callable
        As for :class:`Forecaster` (``gbm`` by default).
    quantile : {"p10", "p50", "p90"}
    history_days : int [d]
        Generated history before the run.
    model_cache : Path or None or "default"
        Folder of fitted models; ``"default"`` is :func:`cache_dir` at the first issue, None
        keeps them in memory only.
    """

    def __init__(
        self,
        model: ModelSpec = "gbm",
        quantile: str = "p50",
        history_days: int = 365,
        model_cache: Path | str | None = "default",
    ) -> None:
        if quantile not in QUANTILE_COLUMNS:
            raise ErsgridError(f"quantile {quantile!r}: use one of {QUANTILE_COLUMNS}")
        self.model = model
        self.quantile = quantile
        self.history_days = history_days
        self.model_cache = model_cache
        self._key: tuple[str, pd.Timestamp, int] | None = None
        self._forecaster: Forecaster | None = None
        self.notes: list[str] = []
        """What the forecasts of the last run learnt from, when it is less than asked for."""

    def with_quantile(self, quantile: str) -> LearnedTraffic:
        """The same forecasts at another quantile, sharing this one's fitted models."""
        if quantile not in QUANTILE_COLUMNS:
            raise ErsgridError(f"quantile {quantile!r}: use one of {QUANTILE_COLUMNS}")
        other = copy.copy(self)
        other.quantile = quantile
        return other

    def max_lead_steps(self, context: _RunLike) -> int:
        """Most steps past its issue a traffic forecast reaches (the models'
        ``max_horizon_steps``: 192 = 48 h for ``gbm``)."""
        fc = self.forecaster_for(context)
        column = next(c for c in fc.history.columns if str(c).startswith(TRAFFIC_PREFIX))
        return fc.horizon_steps(column, context.index[0])

    def forecaster_for(self, context: _RunLike) -> Forecaster:
        """The forecaster of this run (built on the first call of a run)."""
        key = (context.scenario.model_dump_json(), context.index[0], len(context.index))
        if self._forecaster is None or self._key != key:
            sc = context.scenario
            # two days past the run: the weather forecast covers every planning horizon
            ahead = math.ceil(len(context.index) * STEP / pd.Timedelta(days=1)) + 2
            history = _run_history(sc, context.index[0].date(), ahead, self.history_days)
            self.notes = _coverage_notes(history, context.index[0], self.history_days)
            cache = cache_dir() if self.model_cache == "default" else self.model_cache
            self._forecaster = Forecaster(
                history,
                sc.traffic.holidays_country,
                model=self.model,
                direction_a_share=sc.traffic.direction_a_share,
                model_cache=None if cache is None else Path(cache),
            )
            self._key = key
        return self._forecaster

    def forecast(self, context: _RunLike, issued: int, start: int, stop: int) -> pd.DataFrame:
        """Vehicles entering in run steps ``start .. stop - 1`` [veh/step], issued at step
        ``issued``; columns ``<class>_<direction>``, rows numbered from 0."""
        fc = self.forecaster_for(context)
        t0 = context.index[0]
        parts = []
        if start < issued:
            parts.append(fc.traffic_forecast(t0 + start * STEP, issued - start, self.quantile))
        first = max(start, issued)
        if stop > first:
            ahead = fc.traffic_forecast(t0 + issued * STEP, stop - issued, self.quantile)
            parts.append(ahead.iloc[first - issued :])
        return pd.concat(parts).reset_index(drop=True)

    def renewables(self, context: _RunLike, issued: int, stop: int) -> dict[str, pd.DataFrame]:
        """P10, P50, P90 of the output of all PV arrays and of all wind farms [kW].

        Parameters
        ----------
        context : RunContext
        issued : int
            Run step of the issue; the forecast covers run steps ``issued .. stop - 1``.
        stop : int

        Returns
        -------
        dict
            ``pv`` and/or ``wind`` (the kinds the scenario has): DataFrames with columns
            ``p10``, ``p50``, ``p90`` [kW], one row per step from ``issued``.
        """
        fc = self.forecaster_for(context)
        when = context.index[0] + issued * STEP
        return {
            kind: fc.predict(kind, when, stop - issued)
            for kind in RENEWABLE_KINDS
            if kind in fc.history.columns
        }
