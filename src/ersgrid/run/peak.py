"""Peak reduction by V2G: the same run with V2G switched off as the reference.

``peak_reduction_kw`` = peak import of the same scenario, strategy, days and seed with every
class's ``v2g_share`` set to 0, minus this run's peak. Switching V2G off keeps the draws: the
traffic model draws each vehicle's V2G flag whatever the share, so both runs see the same
vehicles. It costs a second run, so it is computed only on request
(``ersgrid run --peak-reference``).
"""

from __future__ import annotations

from ersgrid.scenario.schema import Scenario

__all__ = ["without_v2g"]


def without_v2g(scenario: Scenario) -> Scenario:
    """The scenario with no vehicle allowing V2G (every class's ``v2g_share`` = 0)."""
    vehicles = {k: v.model_copy(update={"v2g_share": 0.0}) for k, v in scenario.vehicles.items()}
    return scenario.model_copy(update={"vehicles": vehicles})
