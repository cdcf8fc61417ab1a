"""``/api/ledger``: the live loop's signed metering ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from ersgrid.service.api.common import VIEWER, errors, not_found

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["router"]


def router(service: Service) -> APIRouter:
    """Read the live ledger."""
    api = APIRouter(tags=["ledger"], dependencies=[VIEWER], responses=errors(401))

    @api.get("/api/ledger", responses=errors(404))
    def ledger() -> dict[str, Any]:
        """The live ledger: records, blocks, settled periods, last anchored root and tx, and
        the last full verification."""
        adapter = service.extras.get("ledger")
        if adapter is None:
            not_found("this service runs without a ledger (ersgrid serve --ledger)")
        status: dict[str, Any] = adapter.status()
        return status

    return api
