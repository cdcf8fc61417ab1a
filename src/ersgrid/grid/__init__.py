"""Grid engine: the road's grid connections, other loads, renewables and power flow."""

from ersgrid.grid.context import EnergyContext, build_energy_context, connection_balance

__all__ = ["EnergyContext", "build_energy_context", "connection_balance"]
