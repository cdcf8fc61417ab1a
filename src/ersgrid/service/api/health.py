"""``/api/health`` (the one route open to anyone) and ``/api/status`` (adapters' status)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from ersgrid.service.api.common import VIEWER, errors

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["router"]


def router(service: Service) -> APIRouter:
    """Health (no credential) and status (viewer)."""
    loop = service.loop
    api = APIRouter(tags=["health"])

    def facts() -> dict[str, Any]:
        return {
            "ok": True,
            "loop_running": loop.running,
            "finished": loop.finished,
            "observer_errors": loop.observer_errors,
            "auth_required": service.auth is not None,
        }

    @api.get("/api/health")
    async def health() -> dict[str, Any]:
        """Whether the service and its loop run; open to anyone (monitoring, load balancers).
        Adapter details are at ``/api/status``."""
        return facts()

    @api.get("/api/status", dependencies=[VIEWER], responses=errors(401))
    def status() -> dict[str, Any]:
        """The loop and the status of each adapter (store, MQTT, OCPP, ledger, anomaly,
        authentication)."""
        extras = {name: adapter.status() for name, adapter in service.extras.items()}
        if service.auth is not None:
            extras["auth"] = service.auth.status()
        return {**facts(), **extras}

    return api
