"""Twin engine: the corridor's vehicles, moving, charging and metered, step by step.

The vehicles that enter come from the run's world (:class:`ersgrid.world.Arrivals`).
"""

from ersgrid.twin.road import BlockReport, RoadTwin

__all__ = ["BlockReport", "RoadTwin"]
