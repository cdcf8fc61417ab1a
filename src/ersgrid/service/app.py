"""The one place that builds the REST API (FastAPI; OpenAPI at ``/openapi.json``, its pages at
``/docs`` and ``/redoc`` from local assets) and the dashboard, from the routers in
:mod:`ersgrid.service.api`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from ersgrid.service.api import (
    alarms,
    clock,
    control,
    dashboard,
    dr,
    faults,
    health,
    ledger,
    state,
    studies,
    trends,
    users,
)
from ersgrid.service.api.common import VIEWER, errors
from ersgrid.service.auth import Auth
from ersgrid.service.live import LiveLoop
from ersgrid.service.studies import Studies

__all__ = ["Service", "create_app"]


@dataclass
class Service:
    """Everything the API serves: the live loop, study runs, the optional adapters and who
    may do what.

    Attributes
    ----------
    loop : LiveLoop
    studies : Studies
    extras : dict
        Adapters that report their status: ``mqtt``, ``storage``, ``ocpp``, ``anomaly``
        (each an object with ``status() -> dict``).
    stream_interval_s : float [s]
        Time between two server-sent events of the live stream.
    auth : Auth or None
        Accounts and tokens; None serves every route to anyone (loopback only, see
        :func:`ersgrid.service.server.check_bind`).
    """

    loop: LiveLoop
    studies: Studies
    extras: dict[str, Any] = field(default_factory=dict)
    stream_interval_s: float = 0.5
    auth: Auth | None = None


def create_app(service: Service) -> FastAPI:
    """The FastAPI application over a :class:`Service`."""
    api = FastAPIOffline(
        title="ersgrid operations service",
        version="0.2.0",
        description="Live EMS of an electric road: state, plan, DR events, alarms, studies. "
        "Powers in kW (road draw positive), energies in kWh, prices in the scenario currency. "
        "Every route but `GET /api/health` and `POST /api/token` needs a bearer token "
        "(roles: viewer reads; operator also steers DR events, limit overrides, the strategy, "
        "alarms and study runs; admin "
        "also sets the clock, injects faults and manages users).",
        static_url="/static-docs",
    )
    api.state.auth = service.auth
    api.include_router(dashboard.router())
    for module in (health, users, state, trends, ledger, clock, studies, dr, control, alarms,
                   faults):  # fmt: skip
        api.include_router(module.router(service))
    adapters = APIRouter(tags=["adapters"], dependencies=[VIEWER], responses=errors(401))
    for name, adapter in service.extras.items():
        if hasattr(adapter, "routes"):
            adapter.routes(adapters, name)
    api.include_router(adapters)
    return api
