"""``/api/dr-events``: demand-response caps on substation imports."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd
from fastapi import APIRouter
from pydantic import BaseModel, Field

from ersgrid.errors import ServiceError
from ersgrid.service.api.common import OPERATOR, VIEWER, errors, invalid, not_found

if TYPE_CHECKING:
    from ersgrid.service.app import Service
    from ersgrid.service.live import LiveLoop

__all__ = ["DrRequest", "local_time", "router"]


class DrRequest(BaseModel):
    """A demand-response event: cap substation imports between start and end."""

    start: dt.datetime = Field(description="ISO 8601; without offset it is scenario local time.")
    end: dt.datetime
    import_limit_kw: float = Field(ge=0, le=1e7, allow_inf_nan=False, description="[kW]")
    substations: list[str] = Field(default_factory=list, max_length=1000)
    reason: str = Field("", max_length=500)


def local_time(loop: LiveLoop, when: dt.datetime, name: str, where: str = "body") -> pd.Timestamp:
    """``when`` in the scenario's time zone (local time if it has no offset); a 422 naming
    the field ``name`` of the request's ``where`` (body, query) if it cannot be placed there."""
    try:
        ts = pd.Timestamp(when)
        return ts.tz_localize(loop.scenario.timezone) if ts.tzinfo is None else ts
    except Exception as err:  # a local time that does not exist there, or out of range
        invalid([where, name], f"cannot place {when} in {loop.scenario.timezone}: {err}")


def router(service: Service) -> APIRouter:
    """List (viewer), create and cancel (operator) DR events."""
    loop = service.loop
    api = APIRouter(tags=["demand response"], responses=errors(401))

    @api.get("/api/dr-events", dependencies=[VIEWER])
    def list_dr() -> list[dict[str, Any]]:
        """Every DR event with its status now."""
        now = loop.now
        return [e.as_dict(now) for e in loop.dr.list()]

    @api.post("/api/dr-events", status_code=201, dependencies=[OPERATOR], responses=errors(403))
    def create_dr(req: DrRequest) -> dict[str, Any]:
        """Schedule a DR event; no substations means all."""
        start, end = local_time(loop, req.start, "start"), local_time(loop, req.end, "end")
        if not end > start:
            invalid(["body", "end"], "must be after start")
        for i, sid in enumerate(req.substations):
            if sid not in loop.layout.sub_ids:
                invalid(
                    ["body", "substations", i],
                    f"unknown substation {sid!r}; known: {', '.join(loop.layout.sub_ids)}",
                )
        event = loop.dr.create(start, end, req.import_limit_kw, req.substations, req.reason)
        return event.as_dict(loop.now)

    @api.delete("/api/dr-events/{event_id}", dependencies=[OPERATOR], responses=errors(403, 404))
    def cancel_dr(event_id: int) -> dict[str, Any]:
        """Cancel a DR event."""
        try:
            return loop.dr.cancel(event_id).as_dict(loop.now)
        except ServiceError as err:
            not_found(str(err))

    return api
