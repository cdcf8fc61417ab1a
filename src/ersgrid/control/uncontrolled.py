"""The conventional baseline: every receiver takes what it can while on a live segment."""

from __future__ import annotations

from ersgrid.control.base import Dispatch, Observation, Strategy

__all__ = ["Uncontrolled"]


class Uncontrolled(Strategy):
    """No control: segment and substation limits are their ratings.

    Each vehicle takes the most its receiver, the segment and the coverage allow, until its
    battery is full; only the equipment ratings bind. Every other strategy is measured
    against this one.
    """

    name = "uncontrolled"

    def decide(self, observation: Observation) -> Dispatch:
        layout = self.context.layout
        return Dispatch(layout.seg_rating_kw.copy(), layout.sub_rating_kw.copy())
