"""``/api/trends``: the stored trends of the live loop over a time range, as JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query
from fastapi.responses import Response

from ersgrid.service.api.common import VIEWER, conflict, errors, invalid
from ersgrid.service.api.dr import local_time
from ersgrid.service.storage import TREND_COLUMNS

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["router"]

MAX_POINTS = 2000
"""Most time buckets a JSON answer holds: a longer range is averaged over longer buckets."""

StartQ = Annotated[
    dt.datetime | None,
    Query(description="ISO 8601; without offset it is scenario local time. The first "
          "row by default."),
]  # fmt: skip
EndQ = Annotated[dt.datetime | None, Query(description="Exclusive; after the last row by default.")]
SubQ = Annotated[str | None, Query(max_length=200, description="One substation; all by default.")]
StepQ = Annotated[
    float | None,
    Query(ge=0, le=31 * 86400, description="Mean over buckets of this length [s]; 0: "
          "every tick as stored."),
]  # fmt: skip


def router(service: Service) -> APIRouter:
    """Read the trends (viewer)."""
    loop = service.loop
    api = APIRouter(tags=["trends"], dependencies=[VIEWER], responses=errors(401))

    def select(
        start: dt.datetime | None, end: dt.datetime | None, substation: str | None,
        step_s: float | None, max_points: int | None,
    ) -> tuple[list[dict[str, Any]], float]:  # fmt: skip
        store = service.extras.get("storage")
        if store is None:
            conflict("this service runs without a store: no trends")
        if substation is not None and substation not in loop.layout.sub_ids:
            invalid(["query", "substation"], f"unknown substation {substation!r}; known: "
                    f"{', '.join(loop.layout.sub_ids)}")  # fmt: skip
        stored = store.trend_range()
        lo = local_time(loop, start, "start", "query").timestamp() if start else None
        hi = local_time(loop, end, "end", "query").timestamp() if end else None
        if lo is not None and hi is not None and not hi > lo:
            invalid(["query", "end"], "must be after start")
        if stored is None:
            return [], 0.0
        lo = stored[0] if lo is None else lo
        hi = stored[1] + 1.0 if hi is None else hi  # the last row is in
        if not hi > lo:
            return [], 0.0
        if step_s is None:  # whole ticks per bucket, as few as keep max_points
            tick_s = loop.tick_steps * loop.dt_s
            ticks = 0 if max_points is None else math.ceil((hi - lo) / max_points / tick_s)
            step_s = ticks * tick_s if ticks > 1 else 0.0
        rows: list[dict[str, Any]] = store.trends(lo, hi, substation, step_s)
        return rows, step_s

    def stamp(ts: float) -> str:
        return pd.Timestamp(ts, unit="s", tz="UTC").tz_convert(loop.scenario.timezone).isoformat()

    @api.get("/api/trends", responses=errors(409))
    def trends(
        start: StartQ = None, end: EndQ = None, substation: SubQ = None, step_s: StepQ = None
    ) -> dict[str, Any]:
        """Trends per substation and tick of the live loop between start and end (powers in
        kW, price in currency/kWh), averaged over buckets of whole ticks so the answer holds
        at most 2000 times unless ``step_s`` is given."""
        rows, bucket_s = select(start, end, substation, step_s, MAX_POINTS)
        for row in rows:
            row["time"] = stamp(row.pop("ts"))
        return {"step_s": bucket_s, "currency": loop.scenario.currency, "rows": rows}

    @api.get(
        "/api/trends.csv",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}, "description": "The trends as CSV, one "
                         "row per time and substation."}, **errors(409)},
    )  # fmt: skip
    def trends_csv(
        start: StartQ = None, end: EndQ = None, substation: SubQ = None, step_s: StepQ = None
    ) -> Response:
        """The same trends as CSV (every tick as stored unless ``step_s`` is given)."""
        rows, _ = select(start, end, substation, step_s, None)
        out = io.StringIO()
        columns = ["time", *TREND_COLUMNS[1:]]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            row["time"] = stamp(row["ts"])
            writer.writerow(["" if row[c] is None else row[c] for c in columns])
        name = f"ersgrid-trends-{loop.scenario.name}.csv"
        disposition = f'attachment; filename="{name}"'
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": disposition})  # fmt: skip

    return api
