"""Read-only views of the live loop: corridor, state, history, plan, telemetry, live stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse

from ersgrid.jsonsafe import json_safe
from ersgrid.service.api.cache import Rendered
from ersgrid.service.api.common import VIEWER, conflict, errors, not_found
from ersgrid.service.api.control import override_view
from ersgrid.service.live import TickReport
from ersgrid.service.state import corridor_view, live_core, live_state, live_status, plan_view

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["router"]


def router(service: Service) -> APIRouter:
    """Everything a viewer may read about the corridor now."""
    loop = service.loop

    def revision() -> tuple[int, int]:  # alarms do not change these views
        changes, _alarms, dr = loop.revision
        return changes, dr

    core = Rendered(lambda: live_core(loop), revision)
    plan_json = Rendered(lambda: plan_view(loop), revision)

    def prerender(_report: TickReport) -> None:
        core.refresh()
        plan_json.refresh()

    @asynccontextmanager
    async def prerendering(_app: FastAPI) -> AsyncIterator[None]:
        """While the app is served, the loop renders the views read after each tick (first,
        so that the requests waiting for them wait the least)."""
        loop.observers.insert(0, prerender)
        try:
            yield
        finally:
            loop.observers.remove(prerender)

    api = APIRouter(tags=["state"], dependencies=[VIEWER], responses=errors(401),
                    lifespan=prerendering)  # fmt: skip

    @api.get("/api/scenario")
    def scenario() -> dict[str, Any]:
        """The corridor: segments, substations, interchanges."""
        return corridor_view(loop)

    @api.get("/api/scenarios")
    def scenarios() -> dict[str, str]:
        """Built-in scenarios by name."""
        from ersgrid.scenario.loader import describe_builtins

        return describe_builtins()

    @api.get("/api/state", response_model=dict[str, Any])
    async def state() -> Response:
        """The live state of every segment and substation."""
        status = json.dumps(json_safe(live_status(loop)), separators=(",", ":")).encode()
        body = await core.body_async()
        return Response(status[:-1] + b"," + body[1:], media_type="application/json")

    @api.get("/api/history")
    def history() -> list[dict[str, Any]]:
        """One row per planning step so far."""
        return list(loop.history)

    @api.get("/api/plan", response_model=dict[str, Any])
    async def plan() -> Response:
        """What the strategy decided for the current step and the limits in force."""
        return await plan_json.response()

    @api.get("/api/segments/{segment}/telemetry", responses=errors(404, 409))
    def segment_telemetry(
        segment: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[dict[str, Any]]:
        """The newest stored telemetry of a segment."""
        if segment not in loop.layout.seg_ids:
            not_found(f"no segment {segment!r}")
        store = service.extras.get("storage")
        if store is None:
            conflict("this service runs without a store")
        rows: list[dict[str, Any]] = store.recent_telemetry(segment, limit)
        return rows

    @api.get(
        "/api/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent "
                         "events: state, alarms, DR events, limit overrides, strategy, "
                         "history, adapters."}},
    )  # fmt: skip
    async def stream(request: Request) -> StreamingResponse:
        """The live feed of the dashboard (server-sent events)."""

        async def events() -> AsyncIterator[str]:
            while not await request.is_disconnected():
                payload = {
                    "state": live_state(loop),
                    "alarms": [a.as_dict() for a in loop.alarms.list(limit=50)],
                    "dr_events": [e.as_dict(loop.now) for e in loop.dr.list()],
                    "limit_overrides": [override_view(e, loop.now) for e in loop.overrides.list()],
                    "strategy": loop.strategy_view(),
                    "history": list(loop.history)[-96:],
                    "adapters": {n: a.status() for n, a in service.extras.items()},
                }
                yield f"data: {json.dumps(json_safe(payload), default=str)}\n\n"
                await asyncio.sleep(service.stream_interval_s)

        return StreamingResponse(events(), media_type="text/event-stream")

    return api
