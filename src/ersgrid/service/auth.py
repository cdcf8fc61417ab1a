"""Accounts, roles and bearer tokens of the REST API.

Passwords are hashed with argon2id (argon2-cffi); the API hands out JSON Web Tokens (PyJWT,
HS256) signed with a key made once per store and kept in it, so tokens and accounts survive
a restart. A token names its user, and requests look the user up again, so a removed user
or a changed role takes effect without waiting for the token to expire: at once when the
change goes through this service (its API or its :class:`Auth`), within
``user_cache_s`` (1 s) when another process changes the store (``ersgrid users``). The
short cache spares the store a query on each of hundreds of requests a second.

Roles are ordered: ``viewer`` reads, ``operator`` also steers (DR events, alarms, study
runs), ``admin`` also sets the clock, injects faults and manages users.

Failed logins are counted per user name and per client address over a sliding window; past
the limit both are refused with 429 until the window has passed, and each failure is logged
(logger ``ersgrid.service.auth``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ersgrid.errors import ServiceError

if TYPE_CHECKING:
    from ersgrid.service.storage import Store

__all__ = ["ROLES", "Auth", "LoginRefused", "LoginThrottled", "Principal", "role_rank"]

ROLES = ("viewer", "operator", "admin")
"""Roles from least to most rights; each has the rights of those before it."""

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_CHARS = 10
SECRET_NAME = "api-token-hs256"

log = logging.getLogger("ersgrid.service.auth")


def role_rank(role: str) -> int:
    """Position of a role in :data:`ROLES` (0 viewer ... 2 admin)."""
    try:
        return ROLES.index(role)
    except ValueError:
        raise ServiceError(f"unknown role {role!r}; roles: {', '.join(ROLES)}") from None


@dataclass(frozen=True)
class Principal:
    """Who a request speaks for."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """Whether this principal has the rights of ``role``."""
        return role_rank(self.role) >= role_rank(role)


class LoginRefused(ServiceError):
    """Wrong user name, password or token."""


class LoginThrottled(ServiceError):
    """Too many failed logins for a user name or client address.

    Attributes
    ----------
    retry_after_s : float [s]
        Time until the oldest counted failure leaves the window.
    """

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class _FailureWindow:
    """Failed logins per key (``user:NAME``, ``addr:HOST``) over a sliding window."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._fails.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, keys: list[str]) -> float:
        """0 if every key may try again, else the wait [s] until the busiest one may."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.limit:
                    wait = max(wait, times[-self.limit] + self.window_s - now)
        return wait

    def fail(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._fails) > 10_000:  # forget keys whose failures all left the window
                for key in [k for k, v in self._fails.items() if not v or v[-1] <= now - 60]:
                    del self._fails[key]


TOKENS_KEPT = 10_000
"""Verified tokens remembered (user and expiry), so that a token's signature is checked
once and not at each of its requests; the memory is emptied when full."""


class Auth:
    """Users, password checks and tokens over the service's :class:`Store`.

    Parameters
    ----------
    store : Store
        Where accounts and the signing key live.
    token_ttl_s : float [s]
        Lifetime of a token.
    max_failures : int
        Failed logins allowed per user name and per client address within ``window_s``.
    window_s : float [s]
        Window over which failed logins are counted.
    clock : callable
        Seconds since the epoch (``time.time``); tests pass their own.
    user_cache_s : float [s]
        How long a looked-up account is trusted before the store is read again; changes
        made through this object clear it at once.
    """

    def __init__(
        self,
        store: Store,
        token_ttl_s: float = 3600.0,
        max_failures: int = 5,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        user_cache_s: float = 1.0,
    ) -> None:
        if token_ttl_s <= 0:
            raise ServiceError(f"token lifetime {token_ttl_s} s: give a positive number")
        self.store = store
        self.token_ttl_s = float(token_ttl_s)
        self.clock = clock
        self.hasher = PasswordHasher()
        self._key = store.secret(SECRET_NAME, lambda: secrets.token_urlsafe(48))
        self._failures = _FailureWindow(max_failures, window_s, clock)
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        self.failed_logins = 0
        self.user_cache_s = float(user_cache_s)
        self._users: dict[str, tuple[float, Principal | None]] = {}  # name -> (read at, who)
        self._tokens: dict[str, tuple[str, float]] = {}  # verified token -> (user, expiry)

    # ---- accounts -----------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str | None = None) -> str:
        """Create an account; returns its password (a generated one when none is given)."""
        if not NAME_PATTERN.match(name):
            raise ServiceError(
                f"user name {name!r}: use 1 to 64 letters, digits or . _ @ - characters"
            )
        role_rank(role)
        password = password if password is not None else secrets.token_urlsafe(18)
        self._check_password(password)
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.store.add_user(name, role, self.hasher.hash(password), created)
        self._users.clear()
        log.info("user %s added with role %s", name, role)
        return password

    def update_user(self, name: str, role: str | None = None, password: str | None = None) -> None:
        """Change an account's role or password."""
        values: dict[str, str] = {}
        if role is not None:
            role_rank(role)
            if role != "admin":
                self._keep_an_admin(name)
            values["role"] = role
        if password is not None:
            self._check_password(password)
            values["password_hash"] = self.hasher.hash(password)
        self._users.clear()
        if values and not self.store.set_user(name, **values):
            raise ServiceError(f"no user {name!r}")

    def remove_user(self, name: str) -> None:
        """Delete an account (never the last admin)."""
        self._keep_an_admin(name)
        self._users.clear()
        if not self.store.delete_user(name):
            raise ServiceError(f"no user {name!r}")

    def users(self) -> list[dict[str, Any]]:
        """Accounts without their hashes."""
        return [
            {"name": u["name"], "role": u["role"], "created": u["created"]}
            for u in self.store.list_users()
        ]

    def ensure_admin(self, name: str = "admin") -> str | None:
        """Create the first admin when there is no account; returns its password, else None."""
        if self.store.list_users():
            return None
        return self.add_user(name, "admin")

    def _keep_an_admin(self, name: str) -> None:
        admins = [u["name"] for u in self.store.list_users() if u["role"] == "admin"]
        if admins == [name]:
            raise ServiceError(f"{name!r} is the last admin: make another admin first")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD_CHARS:
            raise ServiceError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
        if len(password) > 1024:
            raise ServiceError("a password has at most 1024 characters")

    # ---- logins and tokens --------------------------------------------------------------
    def login(self, name: str, password: str, client: str) -> Principal:
        """Check a user's password; :class:`LoginThrottled` past the failure limit.

        Parameters
        ----------
        client : str
            The client's address, counted beside the user name.
        """
        keys = [f"user:{name}", f"addr:{client}"]
        wait = self._failures.retry_after_s(keys)
        if wait > 0:
            log.warning("login of %r from %s refused: too many failed logins", name, client)
            raise LoginThrottled(
                f"too many failed logins; try again in {wait:.0f} s", retry_after_s=wait
            )
        user = self.store.get_user(name) if NAME_PATTERN.match(name) else None
        try:
            # an unknown user costs one hash too, so timing does not tell names apart
            self.hasher.verify(user["password_hash"] if user else self._dummy_hash, password)
            ok = user is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None:
            self._failures.fail(keys)
            self.failed_logins += 1
            log.warning("failed login of %r from %s", name, client)
            raise LoginRefused("wrong user name or password")
        if self.hasher.check_needs_rehash(user["password_hash"]):
            self.store.set_user(name, password_hash=self.hasher.hash(password))
        return Principal(user["name"], user["role"])

    def issue(self, principal: Principal, ttl_s: float | None = None) -> str:
        """A signed token for ``principal`` that expires after ``ttl_s`` [s]."""
        now = self.clock()
        ttl = self.token_ttl_s if ttl_s is None else ttl_s
        claims = {"sub": principal.name, "iat": int(now), "exp": int(now + ttl)}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        """The principal of a valid, unexpired token of an existing user."""
        seen = self._tokens.get(token)  # its signature was checked already
        if seen is None:
            seen = self._decode(token)
            if len(self._tokens) >= TOKENS_KEPT:
                self._tokens.clear()
            self._tokens[token] = seen
        name, expires = seen
        if expires <= self.clock():  # the injected clock rules, not only the OS one
            raise LoginRefused("the token has expired; log in again")
        who = self._user(name)
        if who is None:
            raise LoginRefused("the token's user no longer exists")
        return who

    def _decode(self, token: str) -> tuple[str, float]:
        """The user and expiry [s since epoch] of a token whose signature checks out."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"require": ["sub", "exp"], "verify_iat": False},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise LoginRefused("the token has expired; log in again") from None
        except jwt.InvalidTokenError:
            raise LoginRefused("invalid token") from None
        return str(claims["sub"]), float(claims["exp"])

    def _user(self, name: str) -> Principal | None:
        now = self.clock()
        cached = self._users.get(name)
        if cached is not None and 0.0 <= now - cached[0] < self.user_cache_s:
            return cached[1]
        row = self.store.get_user(name)
        who = None if row is None else Principal(row["name"], row["role"])
        self._users[name] = (now, who)
        return who

    def status(self) -> dict[str, Any]:
        """Counters for the status page."""
        return {"users": len(self.store.list_users()), "failed_logins": self.failed_logins,
                "token_ttl_s": self.token_ttl_s}  # fmt: skip
