"""``/api/token`` (log in), ``/api/me`` and ``/api/users`` (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from ersgrid.errors import ServiceError
from ersgrid.service.api.common import ADMIN, VIEWER, conflict, errors, not_found
from ersgrid.service.auth import Auth, LoginRefused, LoginThrottled, Principal

if TYPE_CHECKING:
    from ersgrid.service.app import Service

__all__ = ["NewUser", "Token", "UserChange", "router"]

Role = Literal["viewer", "operator", "admin"]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]


class Token(BaseModel):
    """A bearer token and what it allows."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires [s].")
    user: str
    role: Role


class NewUser(BaseModel):
    """An account to create; a password is generated (and returned once) when none is given."""

    name: Name
    role: Role = "viewer"
    password: str | None = Field(None, min_length=10, max_length=1024)


class UserChange(BaseModel):
    """A new role or password for an account."""

    role: Role | None = None
    password: str | None = Field(None, min_length=10, max_length=1024)


def _auth(service: Service) -> Auth:
    if service.auth is None:
        conflict("this service runs without authentication (--no-auth): it has no users")
    return service.auth


def router(service: Service) -> APIRouter:
    """Log in, who am I, and the admin's user management."""
    api = APIRouter(tags=["users"])

    @api.post("/api/token", responses=errors(401, 409, 429))
    def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
        """Log in with user name and password (OAuth2 password flow, form-encoded); the token
        goes in ``Authorization: Bearer <token>``. Failed logins are limited per user name and
        per client address."""
        auth = _auth(service)
        client = request.client.host if request.client is not None else "unknown"
        try:
            who = auth.login(form.username, form.password, client)
        except LoginThrottled as err:
            raise HTTPException(
                429, detail=str(err), headers={"Retry-After": str(int(err.retry_after_s) + 1)}
            ) from None
        except LoginRefused as err:
            raise HTTPException(
                401, detail=str(err), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        token = auth.issue(who)
        return Token(access_token=token, expires_in=int(auth.token_ttl_s), user=who.name,
                     role=who.role)  # fmt: skip

    @api.get("/api/me", responses=errors(401))
    def me(who: Annotated[Principal, VIEWER]) -> dict[str, Any]:
        """The user the credential speaks for and their role."""
        return {"name": who.name, "role": who.role}

    @api.get("/api/users", dependencies=[ADMIN], responses=errors(401, 403, 409))
    def list_users() -> list[dict[str, Any]]:
        """Every account (name, role, creation time)."""
        return _auth(service).users()

    @api.post("/api/users", status_code=201, dependencies=[ADMIN], responses=errors(401, 403, 409))
    def add_user(req: NewUser) -> dict[str, Any]:
        """Create an account; the answer carries its password (generated if none was given)."""
        auth = _auth(service)
        try:
            password = auth.add_user(req.name, req.role, req.password)
        except ServiceError as err:
            conflict(str(err))
        return {"name": req.name, "role": req.role, "password": password}

    @api.patch("/api/users/{name}", dependencies=[ADMIN], responses=errors(401, 403, 404, 409))
    def change_user(name: str, req: UserChange) -> dict[str, Any]:
        """Change an account's role or password."""
        auth = _auth(service)
        if auth.store.get_user(name) is None:
            not_found(f"no user {name!r}")
        try:
            auth.update_user(name, req.role, req.password)
        except ServiceError as err:
            conflict(str(err))
        user = auth.store.get_user(name)
        return {"name": name, "role": user["role"] if user else None}

    @api.delete("/api/users/{name}", dependencies=[ADMIN], responses=errors(401, 403, 404, 409))
    def remove_user(name: str) -> dict[str, Any]:
        """Delete an account (never the last admin); its tokens stop working at once."""
        auth = _auth(service)
        if auth.store.get_user(name) is None:
            not_found(f"no user {name!r}")
        try:
            auth.remove_user(name)
        except ServiceError as err:
            conflict(str(err))
        return {"name": name, "removed": True}

    return api
