"""Twin engine: the corridor's vehicles, moving, charging and metered, step by step."""

from ersgrid.twin.road import BlockReport, RoadTwin
from ersgrid.twin.traffic import Arrivals, draw_arrivals, ers_fraction, expected_volume

__all__ = [
    "Arrivals",
    "BlockReport",
    "RoadTwin",
    "draw_arrivals",
    "ers_fraction",
    "expected_volume",
]
