"""Exact Shapley values of a cooperative game with a handful of players."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

__all__ = ["shapley_values"]


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
