"""``ersgrid users``: accounts of the operations service's API (kept in its store)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ersgrid.cli.console import say

if TYPE_CHECKING:
    from ersgrid.service.auth import Auth

__all__ = ["users_app"]

users_app = typer.Typer(
    help="Accounts of the service API: viewer reads, operator steers, admin manages.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DataDir = Annotated[
    Path, typer.Option(help="The service's --data-dir (its store is ersgrid.db there).")
]
Db = Annotated[str | None, typer.Option(help="The service's --db URL, if it has one.")]


def _auth(data_dir: Path, db: str | None) -> Auth:
    from ersgrid.errors import ServiceError
    from ersgrid.service.auth import Auth
    from ersgrid.service.server import store_url
    from ersgrid.service.storage import Store

    if db is None and not (data_dir / "ersgrid.db").is_file():
        raise ServiceError(
            f"no service store in {data_dir}: give the --data-dir (or --db) of ersgrid serve"
        )
    return Auth(Store(store_url(db, data_dir)))


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    data_dir: DataDir = Path("results") / "service",
    db: Db = None,
) -> None:
    """Create an account and print its generated password (shown only now)."""
    password = _auth(data_dir, db).add_user(name, role)
    say(f"added {name} ({role}); password: {password}")


@users_app.command("list")
def list_users(data_dir: DataDir = Path("results") / "service", db: Db = None) -> None:
    """The accounts: name, role, creation time."""
    for user in _auth(data_dir, db).users():
        say(f"{user['name']}\t{user['role']}\t{user['created']}")


@users_app.command("role")
def set_role(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Argument(help="viewer, operator or admin.")],
    data_dir: DataDir = Path("results") / "service",
    db: Db = None,
) -> None:
    """Change an account's role (effective at its next request)."""
    _auth(data_dir, db).update_user(name, role=role)
    say(f"{name} is now {role}")


@users_app.command("password")
def reset_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = Path("results") / "service",
    db: Db = None,
) -> None:
    """Give an account a new generated password and print it."""
    import secrets

    password = secrets.token_urlsafe(18)
    _auth(data_dir, db).update_user(name, password=password)
    say(f"new password of {name}: {password}")


@users_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = Path("results") / "service",
    db: Db = None,
) -> None:
    """Delete an account (never the last admin); its tokens stop working at once."""
    _auth(data_dir, db).remove_user(name)
    say(f"removed {name}")
