"""The run's outside world, built once: one weather, PV and wind, other loads, connection
limits, prices and CO2, the calendar, the traffic and the arrivals of the twin.

Engines, strategies, the run loop and the faces read a :class:`World`; nothing of the world
is computed twice. See :mod:`ersgrid.world.world`.
"""

from ersgrid.world.arrivals import Arrivals
from ersgrid.world.calendar import Calendar
from ersgrid.world.energy import EnergyContext, connection_balance, renewable_split
from ersgrid.world.history import generate_history, history_frame, history_index
from ersgrid.world.weather import Weather, weather_builds
from ersgrid.world.world import World, build_world

__all__ = [
    "Arrivals",
    "Calendar",
    "EnergyContext",
    "Weather",
    "World",
    "build_world",
    "connection_balance",
    "generate_history",
    "history_frame",
    "history_index",
    "renewable_split",
    "weather_builds",
]
