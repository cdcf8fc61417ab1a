"""``/api/faults``: faults injected into the twin (training and tests; admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ersgrid.service.api.common import ADMIN, VIEWER, errors, invalid
from ersgrid.service.live import FAULT_KINDS

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["FaultRequest", "router"]


class FaultRequest(BaseModel):
    """A fault to inject into the twin (training and tests)."""

    kind: Literal["coil_efficiency", "segment_meter", "substation_meter", "sensor_stuck", "cooling"]
    subject: str = Field(min_length=1, max_length=200)
    magnitude: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False, description="Share [-].")


def router(service: Service) -> APIRouter:
    """Inject (admin) and list (viewer) faults."""
    loop = service.loop
    api = APIRouter(tags=["faults"], responses=errors(401))

    @api.post("/api/faults", status_code=201, dependencies=[ADMIN], responses=errors(403))
    def inject_fault(req: FaultRequest) -> dict[str, Any]:
        """Inject a fault into the twin."""
        ids = loop.layout.sub_ids if req.kind == "substation_meter" else loop.layout.seg_ids
        if req.subject not in ids:
            invalid(
                ["body", "subject"],
                f"no such {'substation' if ids is loop.layout.sub_ids else 'segment'} "
                f"{req.subject!r}",
            )
        if req.kind != "sensor_stuck" and req.magnitude <= 0:
            invalid(["body", "magnitude"], f"{req.kind} needs a share > 0")
        return loop.inject_fault(req.kind, req.subject, req.magnitude)

    @api.get("/api/faults", dependencies=[VIEWER])
    def list_faults() -> dict[str, Any]:
        """Fault kinds and the faults injected."""
        return {"kinds": list(FAULT_KINDS), "injected": loop.faults}

    return api
