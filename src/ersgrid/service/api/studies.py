"""``/api/runs``: study runs in the background, their KPIs, reports and ledgers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from ersgrid.errors import ErsgridError, ServiceError
from ersgrid.service.api.common import OPERATOR, VIEWER, conflict, errors, invalid, not_found

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["RunRequest", "router"]


class RunRequest(BaseModel):
    """A study run to start in the background."""

    scenario: str = Field(min_length=1, max_length=500, description="Built-in name or YAML path.")
    strategy: str = Field("uncontrolled", min_length=1, max_length=200)
    days: float = Field(1.0, gt=0, le=31, description="Simulated days [d].")
    seed: int | None = Field(None, ge=0, le=2**63 - 1)


def router(service: Service) -> APIRouter:
    """Start (operator) and read (viewer) study runs."""
    api = APIRouter(tags=["studies"], responses=errors(401))

    @api.post("/api/runs", status_code=202, dependencies=[OPERATOR], responses=errors(403))
    def start_run(req: RunRequest) -> dict[str, Any]:
        """Start a study run; 202 with its id."""
        from ersgrid.control.registry import make_strategy
        from ersgrid.scenario.loader import load_scenario
        from ersgrid.timeindex import planning_index

        try:
            sc = load_scenario(req.scenario)
        except ErsgridError as err:
            invalid(["body", "scenario"], str(err))
        try:
            make_strategy(req.strategy)
        except ErsgridError as err:
            invalid(["body", "strategy"], str(err))
        try:
            planning_index(sc, req.days)
        except ErsgridError as err:
            invalid(["body", "days"], str(err))
        return service.studies.submit(req.scenario, req.strategy, req.days, req.seed).as_dict()

    @api.get("/api/runs", dependencies=[VIEWER])
    def list_runs() -> list[dict[str, Any]]:
        """Every study run with its status and progress."""
        return [r.as_dict() for r in service.studies.list()]

    def _run(run_id: int) -> Any:
        try:
            return service.studies.get(run_id)
        except ServiceError as err:
            not_found(str(err))

    def _done(run_id: int, what: str) -> Any:
        study = _run(run_id)
        if study.status != "done":
            conflict(f"run {run_id} is {study.status}; no {what} yet")
        return study

    @api.get("/api/runs/{run_id}", dependencies=[VIEWER], responses=errors(404))
    def get_run(run_id: int) -> dict[str, Any]:
        """A run's status and progress (planning steps done / total)."""
        result: dict[str, Any] = _run(run_id).as_dict()
        return result

    @api.get("/api/runs/{run_id}/kpis", dependencies=[VIEWER], responses=errors(404, 409))
    def run_kpis(run_id: int) -> dict[str, Any]:
        """A finished run's KPIs."""
        study = _run(run_id)
        if study.kpis is None:
            conflict(f"run {run_id} is {study.status}; no KPIs yet")
        kpis: dict[str, Any] = study.kpis
        return kpis

    @api.get(
        "/api/runs/{run_id}/report", dependencies=[VIEWER],
        responses={200: {"content": {"text/html": {}}, "description": "The HTML report."},
                   **errors(404, 409)},
    )  # fmt: skip
    def run_report(run_id: int) -> HTMLResponse:
        """A finished run's HTML report (errors are JSON, as everywhere)."""
        text = (_done(run_id, "report").out / "report.html").read_text(encoding="utf-8")
        return HTMLResponse(text)

    @api.get("/api/runs/{run_id}/ledger", dependencies=[VIEWER], responses=errors(404, 409))
    def run_ledger(run_id: int) -> dict[str, Any]:
        """Verify the run's ledger (signatures, roots, links, settlement, anchors)."""
        import dataclasses

        from ersgrid.errors import LedgerError, LedgerTampered
        from ersgrid.ledger.verify import verify_ledger

        study = _done(run_id, "ledger")
        try:
            report = verify_ledger(study.out)
        except LedgerTampered as err:
            return {"verified": False, "problem": str(err)}
        except LedgerError as err:
            conflict(str(err))
        return {"verified": True, **dataclasses.asdict(report)}

    @api.get("/api/runs/{run_id}/ledger/proof", dependencies=[VIEWER], responses=errors(404, 409))
    def run_ledger_proof(
        run_id: int,
        vehicle: Annotated[int, Query(ge=0, description="Run-local vehicle id.")],
        period: Annotated[str, Query(description="Settlement period, e.g. 2035-04-02T09.")],
    ) -> dict[str, Any]:
        """A vehicle's records and statement in one period, with Merkle inclusion proofs."""
        from ersgrid.ledger.proofs import check_proof, make_proof

        study = _done(run_id, "ledger")
        try:
            proof = make_proof(study.out, vehicle, period)
            checked = check_proof(proof)
        except ErsgridError as err:
            not_found(str(err))
        return {"proof": proof, "check": checked}

    return api
