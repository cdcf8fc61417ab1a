"""``/api/limit-overrides`` and ``/api/strategy``: the operator steers the live loop."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ersgrid.errors import ServiceError
from ersgrid.service.api.common import OPERATOR, VIEWER, errors, invalid, not_found
from ersgrid.service.api.dr import local_time
from ersgrid.service.dr import DrEvent

if TYPE_CHECKING:
    import pandas as pd

    from ersgrid.service.app import Service

__all__ = ["OverrideRequest", "StrategyRequest", "override_view", "router"]


class OverrideRequest(BaseModel):
    """Hold a substation's grid import at or below ``limit_kw`` between start and end."""

    substation: str = Field(min_length=1, max_length=200)
    start: dt.datetime = Field(description="ISO 8601; without offset it is scenario local time.")
    end: dt.datetime
    limit_kw: float = Field(ge=0, le=1e7, allow_inf_nan=False, description="[kW]")
    reason: str = Field("", max_length=500)


class StrategyRequest(BaseModel):
    """The strategy to run from the next planning step."""

    strategy: str = Field(min_length=1, max_length=200,
                          description="Built-in name, mpc preset or module:Class.")  # fmt: skip


def override_view(event: DrEvent, now: pd.Timestamp) -> dict[str, Any]:
    """An override as the API shows it, with its status at ``now``."""
    return {
        "id": event.id,
        "substation": event.substations[0],
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
        "limit_kw": event.import_limit_kw,
        "reason": event.reason,
        "status": event.status(now),
    }


def router(service: Service) -> APIRouter:
    """List (viewer), create and cancel (operator) limit overrides; read (viewer) and switch
    (operator) the strategy."""
    loop = service.loop
    api = APIRouter(tags=["operation"], responses=errors(401))

    @api.get("/api/limit-overrides", dependencies=[VIEWER])
    def list_overrides() -> list[dict[str, Any]]:
        """Every limit override with its status now."""
        now = loop.now
        return [override_view(e, now) for e in loop.overrides.list()]

    @api.post(
        "/api/limit-overrides", status_code=201, dependencies=[OPERATOR], responses=errors(403)
    )
    def create_override(req: OverrideRequest) -> dict[str, Any]:
        """Override a substation's import limit for a period: one more cap the twin keeps
        (with the connection's own limit and the DR caps, the tightest holds)."""
        if req.substation not in loop.layout.sub_ids:
            invalid(["body", "substation"], f"unknown substation {req.substation!r}; known: "
                    f"{', '.join(loop.layout.sub_ids)}")  # fmt: skip
        start = local_time(loop, req.start, "start")
        end = local_time(loop, req.end, "end")
        if not end > start:
            invalid(["body", "end"], "must be after start")
        event = loop.overrides.create(start, end, req.limit_kw, [req.substation], req.reason)
        return override_view(event, loop.now)

    @api.delete(
        "/api/limit-overrides/{override_id}", dependencies=[OPERATOR], responses=errors(403, 404)
    )
    def cancel_override(override_id: int) -> dict[str, Any]:
        """Cancel a limit override (it stays listed as cancelled)."""
        try:
            return override_view(loop.overrides.cancel(override_id), loop.now)
        except ServiceError as err:
            not_found(str(err).replace("DR event", "limit override"))

    @api.get("/api/strategy", dependencies=[VIEWER])
    def strategy() -> dict[str, Any]:
        """The strategy in force, a switch pending, the switches so far and the built-ins."""
        return loop.strategy_view()

    @api.put("/api/strategy", dependencies=[OPERATOR], responses=errors(403))
    def switch_strategy(req: StrategyRequest) -> dict[str, Any]:
        """Switch the strategy: the new one decides from the next planning step on (naming
        the one in force cancels a pending switch)."""
        try:
            return loop.set_strategy(req.strategy)
        except ServiceError as err:
            invalid(["body", "strategy"], str(err))

    return api
