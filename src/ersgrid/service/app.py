"""The REST API (FastAPI, OpenAPI at ``/docs``) and the dashboard it serves."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import pandas as pd
from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from ersgrid.errors import ErsgridError, ServiceError
from ersgrid.jsonsafe import json_safe
from ersgrid.service.live import FAULT_KINDS, LiveLoop
from ersgrid.service.state import corridor_view, live_state, plan_view
from ersgrid.service.studies import Studies

__all__ = ["Service", "create_app"]


@dataclass
class Service:
    """Everything the API serves: the live loop, study runs and the optional adapters.

    Attributes
    ----------
    loop : LiveLoop
    studies : Studies
    extras : dict
        Adapters that report their status: ``mqtt``, ``storage``, ``ocpp``, ``anomaly``
        (each an object with ``status() -> dict``).
    stream_interval_s : float [s]
        Time between two server-sent events of the live stream.
    """

    loop: LiveLoop
    studies: Studies
    extras: dict[str, Any] = field(default_factory=dict)
    stream_interval_s: float = 0.5


def _invalid(loc: list[str | int], msg: str) -> NoReturn:
    """A 422 in FastAPI's own validation format, naming the field."""
    raise HTTPException(422, detail=[{"loc": loc, "msg": msg, "type": "value_error"}])


def _not_found(msg: str) -> NoReturn:
    raise HTTPException(404, detail=msg)


class RunRequest(BaseModel):
    """A study run to start in the background."""

    scenario: str = Field(min_length=1, max_length=500, description="Built-in name or YAML path.")
    strategy: str = Field("uncontrolled", min_length=1, max_length=200)
    days: float = Field(1.0, gt=0, le=31, description="Simulated days [d].")
    seed: int | None = Field(None, ge=0, le=2**63 - 1)


class DrRequest(BaseModel):
    """A demand-response event: cap substation imports between start and end."""

    start: dt.datetime = Field(description="ISO 8601; without offset it is scenario local time.")
    end: dt.datetime
    import_limit_kw: float = Field(ge=0, le=1e7, allow_inf_nan=False, description="[kW]")
    substations: list[str] = Field(default_factory=list, max_length=1000)
    reason: str = Field("", max_length=500)


class AlarmRequest(BaseModel):
    """An alarm raised by an operator or an outside system."""

    message: str = Field(min_length=1, max_length=1000)
    subject: str = Field("corridor", min_length=1, max_length=200)
    severity: Literal["info", "warning", "critical"] = "warning"
    kind: str = Field("operator", min_length=1, max_length=100)


class AckRequest(BaseModel):
    """Who acknowledges."""

    by: str = Field("operator", min_length=1, max_length=200)


class ClockRequest(BaseModel):
    """New clock speed."""

    speed: float = Field(gt=0, le=100_000, allow_inf_nan=False, description="[s/s]")


class FaultRequest(BaseModel):
    """A fault to inject into the twin (training and tests)."""

    kind: Literal["coil_efficiency", "segment_meter", "substation_meter", "sensor_stuck", "cooling"]
    subject: str = Field(min_length=1, max_length=200)
    magnitude: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False, description="Share [-].")


def _local(loop: LiveLoop, when: dt.datetime, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(when)
    try:
        return ts.tz_localize(loop.scenario.timezone) if ts.tzinfo is None else ts
    except Exception as err:  # e.g. a local time that does not exist in the time zone
        _invalid(["body", name], f"cannot place {when} in {loop.scenario.timezone}: {err}")


def create_app(service: Service) -> FastAPI:
    """The FastAPI application over a :class:`Service`."""
    loop = service.loop
    api = FastAPI(
        title="ersgrid operations service",
        version="0.1.0",
        description="Live EMS of an electric road: state, plan, DR events, alarms, studies. "
        "Powers in kW (road draw positive), energies in kWh, prices in the scenario currency.",
    )
    static = resources.files("ersgrid.service") / "static"

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> str:
        return (static / "index.html").read_text(encoding="utf-8")

    @api.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="text/javascript")

    @api.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        allowed = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
        if name not in allowed:
            _not_found(f"no static file {name!r}")
        return Response((static / name).read_text(encoding="utf-8"), media_type=allowed[name])

    @api.get("/api/health")
    def health() -> dict[str, Any]:
        return {
            "ok": True,
            "loop_running": loop.running,
            "finished": loop.finished,
            "observer_errors": loop.observer_errors,
            **{name: adapter.status() for name, adapter in service.extras.items()},
        }

    @api.get("/api/scenario")
    def scenario() -> dict[str, Any]:
        return corridor_view(loop)

    @api.get("/api/scenarios")
    def scenarios() -> dict[str, str]:
        from ersgrid.scenario.loader import describe_builtins

        return describe_builtins()

    @api.get("/api/state")
    def state() -> dict[str, Any]:
        return live_state(loop)

    @api.get("/api/history")
    def history() -> list[dict[str, Any]]:
        return list(loop.history)

    @api.get("/api/plan")
    def plan() -> dict[str, Any]:
        return plan_view(loop)

    @api.get("/api/ledger")
    def ledger() -> dict[str, Any]:
        """The live ledger: records, blocks, settled periods, last anchored root and tx, and
        the last full verification."""
        adapter = service.extras.get("ledger")
        if adapter is None:
            _not_found("this service runs without a ledger (ersgrid serve --ledger)")
        status: dict[str, Any] = adapter.status()
        return status

    @api.put("/api/clock")
    def clock(req: ClockRequest) -> dict[str, Any]:
        loop.set_speed(req.speed)
        return {"speed": loop.speed, "time": loop.now.isoformat()}

    # ---- study runs ---------------------------------------------------------------------
    @api.post("/api/runs", status_code=202)
    def start_run(req: RunRequest) -> dict[str, Any]:
        from ersgrid.control.registry import make_strategy
        from ersgrid.scenario.loader import load_scenario
        from ersgrid.timeindex import planning_index

        try:
            sc = load_scenario(req.scenario)
        except ErsgridError as err:
            _invalid(["body", "scenario"], str(err))
        try:
            make_strategy(req.strategy)
        except ErsgridError as err:
            _invalid(["body", "strategy"], str(err))
        try:
            planning_index(sc, req.days)
        except ErsgridError as err:
            _invalid(["body", "days"], str(err))
        return service.studies.submit(req.scenario, req.strategy, req.days, req.seed).as_dict()

    @api.get("/api/runs")
    def list_runs() -> list[dict[str, Any]]:
        return [r.as_dict() for r in service.studies.list()]

    def _run(run_id: int) -> Any:
        try:
            return service.studies.get(run_id)
        except ServiceError as err:
            _not_found(str(err))

    @api.get("/api/runs/{run_id}")
    def get_run(run_id: int) -> dict[str, Any]:
        result: dict[str, Any] = _run(run_id).as_dict()
        return result

    @api.get("/api/runs/{run_id}/kpis")
    def run_kpis(run_id: int) -> dict[str, Any]:
        study = _run(run_id)
        if study.kpis is None:
            raise HTTPException(409, detail=f"run {run_id} is {study.status}; no KPIs yet")
        kpis: dict[str, Any] = study.kpis
        return kpis

    @api.get("/api/runs/{run_id}/report", response_class=HTMLResponse)
    def run_report(run_id: int) -> str:
        study = _run(run_id)
        if study.status != "done":
            raise HTTPException(409, detail=f"run {run_id} is {study.status}; no report yet")
        text: str = (study.out / "report.html").read_text(encoding="utf-8")
        return text

    # ---- ledger of a study run ----------------------------------------------------------
    def _done(run_id: int) -> Any:
        study = _run(run_id)
        if study.status != "done":
            raise HTTPException(409, detail=f"run {run_id} is {study.status}; no ledger yet")
        return study

    @api.get("/api/runs/{run_id}/ledger")
    def run_ledger(run_id: int) -> dict[str, Any]:
        """Verify the run's ledger (signatures, roots, links, settlement, anchors)."""
        import dataclasses

        from ersgrid.errors import LedgerError, LedgerTampered
        from ersgrid.ledger.verify import verify_ledger

        study = _done(run_id)
        try:
            report = verify_ledger(study.out)
        except LedgerTampered as err:
            return {"verified": False, "problem": str(err)}
        except LedgerError as err:
            raise HTTPException(409, detail=str(err)) from None
        return {"verified": True, **dataclasses.asdict(report)}

    @api.get("/api/runs/{run_id}/ledger/proof")
    def run_ledger_proof(
        run_id: int,
        vehicle: Annotated[int, Query(ge=0, description="Run-local vehicle id.")],
        period: Annotated[str, Query(description="Settlement period, e.g. 2035-04-02T09.")],
    ) -> dict[str, Any]:
        """A vehicle's records and statement in one period, with Merkle inclusion proofs."""
        from ersgrid.errors import ErsgridError
        from ersgrid.ledger.proofs import check_proof, make_proof

        study = _done(run_id)
        try:
            proof = make_proof(study.out, vehicle, period)
            checked = check_proof(proof)
        except ErsgridError as err:
            raise HTTPException(404, detail=str(err)) from None
        return {"proof": proof, "check": checked}

    # ---- DR events ----------------------------------------------------------------------
    @api.get("/api/dr-events")
    def list_dr() -> list[dict[str, Any]]:
        now = loop.now
        return [e.as_dict(now) for e in loop.dr.list()]

    @api.post("/api/dr-events", status_code=201)
    def create_dr(req: DrRequest) -> dict[str, Any]:
        start, end = _local(loop, req.start, "start"), _local(loop, req.end, "end")
        if not end > start:
            _invalid(["body", "end"], "must be after start")
        for i, sid in enumerate(req.substations):
            if sid not in loop.layout.sub_ids:
                _invalid(
                    ["body", "substations", i],
                    f"unknown substation {sid!r}; known: {', '.join(loop.layout.sub_ids)}",
                )
        event = loop.dr.create(start, end, req.import_limit_kw, req.substations, req.reason)
        return event.as_dict(loop.now)

    @api.delete("/api/dr-events/{event_id}")
    def cancel_dr(event_id: int) -> dict[str, Any]:
        try:
            return loop.dr.cancel(event_id).as_dict(loop.now)
        except ServiceError as err:
            _not_found(str(err))

    # ---- alarms -------------------------------------------------------------------------
    @api.get("/api/alarms")
    def list_alarms(
        active: bool | None = None,
        acknowledged: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    ) -> list[dict[str, Any]]:
        return [a.as_dict() for a in loop.alarms.list(active, acknowledged, limit)]

    @api.post("/api/alarms", status_code=201)
    def raise_alarm(req: AlarmRequest) -> dict[str, Any]:
        alarm = loop.alarms.raise_alarm(req.kind, req.subject, req.message, req.severity)
        return alarm.as_dict()

    @api.post("/api/alarms/{alarm_id}/ack")
    def ack_alarm(
        alarm_id: int, req: Annotated[AckRequest | None, Body()] = None
    ) -> dict[str, Any]:
        try:
            return loop.alarms.acknowledge(alarm_id, (req or AckRequest()).by).as_dict()
        except ServiceError as err:
            _not_found(str(err))

    @api.get("/api/segments/{segment}/telemetry")
    def segment_telemetry(
        segment: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[dict[str, Any]]:
        if segment not in loop.layout.seg_ids:
            _not_found(f"no segment {segment!r}")
        store = service.extras.get("storage")
        if store is None:
            raise HTTPException(409, detail="this service runs without a store")
        rows: list[dict[str, Any]] = store.recent_telemetry(segment, limit)
        return rows

    # ---- faults (twin only) -------------------------------------------------------------
    @api.post("/api/faults", status_code=201)
    def inject_fault(req: FaultRequest) -> dict[str, Any]:
        ids = loop.layout.sub_ids if req.kind == "substation_meter" else loop.layout.seg_ids
        if req.subject not in ids:
            _invalid(
                ["body", "subject"],
                f"no such {'substation' if ids is loop.layout.sub_ids else 'segment'} "
                f"{req.subject!r}",
            )
        if req.kind != "sensor_stuck" and req.magnitude <= 0:
            _invalid(["body", "magnitude"], f"{req.kind} needs a share > 0")
        return loop.inject_fault(req.kind, req.subject, req.magnitude)

    @api.get("/api/faults")
    def list_faults() -> dict[str, Any]:
        return {"kinds": list(FAULT_KINDS), "injected": loop.faults}

    # ---- live stream --------------------------------------------------------------------
    @api.get("/api/stream")
    async def stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            while not await request.is_disconnected():
                payload = {
                    "state": live_state(loop),
                    "alarms": [a.as_dict() for a in loop.alarms.list(limit=50)],
                    "dr_events": [e.as_dict(loop.now) for e in loop.dr.list()],
                    "history": list(loop.history)[-96:],
                    "adapters": {n: a.status() for n, a in service.extras.items()},
                }
                yield f"data: {json.dumps(json_safe(payload), default=str)}\n\n"
                await asyncio.sleep(service.stream_interval_s)

        return StreamingResponse(events(), media_type="text/event-stream")

    for name, adapter in service.extras.items():
        if hasattr(adapter, "routes"):
            adapter.routes(api, name)
    return api
