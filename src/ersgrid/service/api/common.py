"""What every router shares: the role checks, error helpers and the error responses declared
in the OpenAPI description."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import Depends, HTTPException, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

from ersgrid.service.auth import Auth, LoginRefused, Principal

__all__ = [
    "ADMIN",
    "OPERATOR",
    "VIEWER",
    "Problem",
    "errors",
    "invalid",
    "not_found",
    "principal",
]

TOKEN_URL = "/api/token"
bearer = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    auto_error=False,
    scheme_name="bearer",
    description="Log in at POST /api/token (user name and password as a form) and send the "
    "token as `Authorization: Bearer <token>`.",
)
OPEN = Principal("anonymous", "admin")
"""Who speaks when the service runs without authentication (loopback only)."""


class Problem(BaseModel):
    """An error: what is wrong and what to do."""

    detail: str


_DESCRIPTIONS = {
    401: "No credential, or an invalid or expired one: log in at POST /api/token.",
    403: "The credential's role may not do this.",
    404: "No such resource.",
    409: "The resource is not in a state that allows this.",
    429: "Too many failed logins: wait for Retry-After seconds.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error status codes (each with :class:`Problem` as body)."""
    return {code: {"model": Problem, "description": _DESCRIPTIONS[code]} for code in codes}


def _auth(request: Request) -> Auth | None:
    auth: Auth | None = request.app.state.auth
    return auth


def _unauthorised(msg: str) -> NoReturn:
    raise HTTPException(401, detail=msg, headers={"WWW-Authenticate": "Bearer"})


async def principal(request: Request, token: Annotated[str | None, Depends(bearer)]) -> Principal:
    """The caller, from the bearer token (401 without a valid one)."""
    auth = _auth(request)
    if auth is None:
        return OPEN
    if not token:
        _unauthorised("this route needs a credential: log in at POST /api/token")
    try:
        return auth.verify(token)
    except LoginRefused as err:
        _unauthorised(str(err))


def _require(role: str) -> DependsParam:
    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.may(role):
            raise HTTPException(403, detail=f"{who.name} is a {who.role}; this needs {role}")
        return who

    check.__name__ = f"require_{role}"
    dependency: DependsParam = Depends(check)
    return dependency


VIEWER = _require("viewer")
OPERATOR = _require("operator")
ADMIN = _require("admin")


def invalid(loc: list[str | int], msg: str) -> NoReturn:
    """A 422 in FastAPI's own validation format, naming the field."""
    raise HTTPException(422, detail=[{"loc": loc, "msg": msg, "type": "value_error"}])


def not_found(msg: str) -> NoReturn:
    """A 404 saying what is missing."""
    raise HTTPException(404, detail=msg)


def conflict(msg: str) -> NoReturn:
    """A 409 saying why not now."""
    raise HTTPException(409, detail=msg)
