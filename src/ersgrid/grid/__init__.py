"""Grid engine: the distribution network under the road, its power flow and the system frequency.

The connections' loads, renewables and limits are the run's world
(:class:`ersgrid.world.EnergyContext`).
"""

from ersgrid.grid.check import GridCheck, run_grid_check
from ersgrid.grid.outputs import energy_outputs, prepare_grid

__all__ = ["GridCheck", "energy_outputs", "prepare_grid", "run_grid_check"]
