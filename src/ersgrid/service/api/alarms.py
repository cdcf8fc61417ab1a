"""``/api/alarms``: alarms of the loop, the detectors and operators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from ersgrid.errors import ServiceError
from ersgrid.service.api.common import OPERATOR, VIEWER, errors, not_found
from ersgrid.service.auth import Principal
from ersgrid.service.storage import committed, deferred_commits

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["AckRequest", "AlarmRequest", "router"]


class AlarmRequest(BaseModel):
    """An alarm raised by an operator or an outside system."""

    message: str = Field(min_length=1, max_length=1000)
    subject: str = Field("corridor", min_length=1, max_length=200)
    severity: Literal["info", "warning", "critical"] = "warning"
    kind: str = Field("operator", min_length=1, max_length=100)


class AckRequest(BaseModel):
    """Who acknowledges (the user logged in when not given)."""

    by: str | None = Field(None, min_length=1, max_length=200)


def router(service: Service) -> APIRouter:
    """List (viewer), raise and acknowledge (operator) alarms."""
    loop = service.loop
    api = APIRouter(tags=["alarms"], responses=errors(401))

    @api.get("/api/alarms", dependencies=[VIEWER])
    async def list_alarms(
        active: bool | None = None,
        acknowledged: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    ) -> list[dict[str, Any]]:
        """Alarms, newest first."""
        return [a.as_dict() for a in loop.alarms.list(active, acknowledged, limit)]

    @api.post("/api/alarms", status_code=201, responses=errors(403))
    async def raise_alarm(req: AlarmRequest, who: Annotated[Principal, OPERATOR]) -> dict[str, Any]:
        """Raise an alarm; answered once it is stored."""
        with deferred_commits() as pending:
            alarm = loop.alarms.raise_alarm(req.kind, req.subject, req.message, req.severity)
        await committed(pending)
        return alarm.as_dict()

    @api.post("/api/alarms/{alarm_id}/ack", responses=errors(403, 404))
    async def ack_alarm(
        alarm_id: int,
        who: Annotated[Principal, OPERATOR],
        req: Annotated[AckRequest | None, Body()] = None,
    ) -> dict[str, Any]:
        """Acknowledge an alarm, in the name of ``by`` or of the user logged in."""
        by = (req.by if req is not None else None) or who.name
        try:
            with deferred_commits() as pending:
                alarm = loop.alarms.acknowledge(alarm_id, by)
        except ServiceError as err:
            not_found(str(err))
        await committed(pending)
        return alarm.as_dict()

    return api
