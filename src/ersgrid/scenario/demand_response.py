"""Demand-response events: the ``demand_response`` section of a scenario."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, model_validator

from ersgrid.scenario.base import SpecModel

__all__ = ["DREventSpec", "DemandResponseSpec"]


class DREventSpec(SpecModel):
    """One demand-response event: an import cap, or a shed below the road's baseline.

    The baseline of a shed is the import the run's own strategy would have had without any
    event (the twin's exact counterfactual: same vehicles, same seed).
    """

    event_id: str = Field(description="Id of the event (from the utility or VTN).")
    start: dt.datetime = Field(description="Local start time (scenario time zone), ISO 8601.")
    end: dt.datetime = Field(description="Local end time, after start.")
    import_cap_kw: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None, description="Most power the connections may import during the event [kW]."
    )
    shed_kw: Annotated[float, Field(gt=0.0)] | None = Field(
        default=None, description="Import reduction asked for below the baseline [kW]."
    )
    substations: list[str] | None = Field(
        default=None,
        description="Substations the event applies to; all if omitted (a cap is then split "
        "in proportion to their ratings).",
    )
    opt_in: bool = Field(default=True, description="Whether the operator takes part.")
    source: str = Field(default="scenario", description="Where the event came from.")

    @model_validator(mode="after")
    def _one_kind(self) -> DREventSpec:
        if (self.import_cap_kw is None) == (self.shed_kw is None):
            raise ValueError("give exactly one of import_cap_kw and shed_kw")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class DemandResponseSpec(SpecModel):
    """Demand-response events known to a run."""

    events: list[DREventSpec] = Field(default_factory=list, description="The events.")
