"""The dashboard's page and files: open to anyone, since the page itself asks for the login
and every value it shows comes from the API with the user's token."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from ersgrid.service.api.common import not_found

__all__ = ["router"]

STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


def router() -> APIRouter:
    """``/`` and ``/static/...`` (not in the OpenAPI description)."""
    static = resources.files("ersgrid.service") / "static"
    api = APIRouter(include_in_schema=False)

    @api.get("/", response_class=HTMLResponse)
    def dashboard() -> str:
        return (static / "index.html").read_text(encoding="utf-8")

    @api.get("/static/plotly.min.js")
    def plotly_js() -> FileResponse:
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="text/javascript")

    @api.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in STATIC:
            not_found(f"no static file {name!r}")
        return Response((static / name).read_text(encoding="utf-8"), media_type=STATIC[name])

    return api
