"""Market engine: demand-response events as import caps, and what the road delivered.

Tariffs, price series, the merit-order model and users' answer to prices are part of the run's
world (:mod:`ersgrid.world`): they are inputs every engine reads, not decisions of a market.
"""

from ersgrid.market.dr import (
    DRPerformance,
    cbl_10of10,
    dr_caps,
    dr_performance,
    event_steps,
)

__all__ = ["DRPerformance", "cbl_10of10", "dr_caps", "dr_performance", "event_steps"]
