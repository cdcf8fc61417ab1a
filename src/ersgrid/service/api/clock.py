"""``/api/clock``: the speed of the scenario clock (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ersgrid.service.api.common import ADMIN, errors

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["ClockRequest", "router"]


class ClockRequest(BaseModel):
    """New clock speed."""

    speed: float = Field(gt=0, le=100_000, allow_inf_nan=False, description="[s/s]")


def router(service: Service) -> APIRouter:
    """Set the clock."""
    loop = service.loop
    api = APIRouter(tags=["clock"], responses=errors(401, 403))

    @api.put("/api/clock", dependencies=[ADMIN])
    def clock(req: ClockRequest) -> dict[str, Any]:
        """Scenario seconds per wall second."""
        loop.set_speed(req.speed)
        return {"speed": loop.speed, "time": loop.now.isoformat()}

    return api
