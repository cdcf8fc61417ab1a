"""Shapley values of a cooperative game: exact for a handful of players, sampled beyond."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SampledShapley", "sampled_shapley_values", "shapley_values"]


def shapley_values(
    players: Sequence[str], value: Callable[[frozenset[str]], float]
) -> dict[str, float]:
    """Each player's Shapley value: its marginal contribution averaged over all join orders.

    Computed exactly by enumerating every coalition (2^n evaluations of ``value``), so meant for
    the few parties of a settlement (n up to about 15).

    Parameters
    ----------
    players : sequence of str
        Distinct player names.
    value : callable
        Characteristic function: the worth of a coalition (``value(frozenset()) == 0`` is
        expected). Values are in whatever unit the caller uses (here micro-currency).

    Returns
    -------
    dict
        Player → Shapley value; the values sum to ``value(all players)``.
    """
    names = list(players)
    n = len(names)
    if len(set(names)) != n:
        raise ValueError(f"players must be distinct, got {names}")
    if n > 20:
        raise ValueError(f"exact Shapley values of {n} players need 2^{n} coalitions; too many")
    worth = {
        frozenset(c): float(value(frozenset(c)))
        for k in range(n + 1)
        for c in itertools.combinations(names, k)
    }
    weight = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    result = {}
    for p in names:
        others = [q for q in names if q != p]
        total = 0.0
        for k in range(n):
            for c in itertools.combinations(others, k):
                s = frozenset(c)
                total += weight[k] * (worth[s | {p}] - worth[s])
        result[p] = total
    return result


@dataclass(frozen=True)
class SampledShapley:
    """Shapley values estimated from random join orders.

    Attributes
    ----------
    values : dict
        Player → estimate: its marginal contribution averaged over the sampled orders (in the
        unit of the worths).
    std_errors : dict
        Player → standard error of the estimate (sample standard deviation of its marginal
        contributions over the square root of the number of orders).
    samples : int
        Join orders drawn.
    """

    values: dict[str, float]
    std_errors: dict[str, float]
    samples: int


def sampled_shapley_values(
    players: Sequence[str],
    value: Callable[[frozenset[str]], float],
    samples: int = 1000,
    seed: int = 0,
) -> SampledShapley:
    """Shapley values by permutation sampling, for games too large to enumerate.

    Each sample is a uniformly random join order; a player's marginal contribution in it is
    the worth of the coalition before it plus itself, less the worth before it. Its mean over
    the orders is an unbiased estimate of the Shapley value, and the estimates sum exactly to
    ``value(all players)`` (each order's contributions telescope). ``value`` is called at most
    ``samples × n`` times; worths already seen are reused.

    Parameters
    ----------
    players : sequence of str
        Distinct player names.
    value : callable
        Characteristic function (``value(frozenset()) == 0`` is expected).
    samples : int
        Join orders to draw, ``>= 2``.
    seed : int
        Seed of the orders.
    """
    names = list(players)
    n = len(names)
    if len(set(names)) != n:
        raise ValueError(f"players must be distinct, got {names}")
    if samples < 2:
        raise ValueError(f"sampled Shapley values need at least 2 join orders, got {samples}")
    cache: dict[frozenset[str], float] = {}

    def worth(s: frozenset[str]) -> float:
        if s not in cache:
            cache[s] = float(value(s))
        return cache[s]

    rng = np.random.default_rng(seed)
    contributions = np.zeros((samples, n))
    for m in range(samples):
        before: frozenset[str] = frozenset()
        last = worth(before)
        for i in rng.permutation(n).tolist():
            before = before | {names[i]}
            now = worth(before)
            contributions[m, i] = now - last
            last = now
    mean = contributions.mean(axis=0)
    se = contributions.std(axis=0, ddof=1) / math.sqrt(samples)
    return SampledShapley(
        values={p: float(mean[i]) for i, p in enumerate(names)},
        std_errors={p: float(se[i]) for i, p in enumerate(names)},
        samples=samples,
    )
