"""A results folder replaced as a whole: written beside its place, then renamed into it.

Everything goes into a temporary folder in the same parent (``.<name>.tmp-<pid>-<tag>``, so a
rename never crosses file systems). Only when every file is written does it take the target's
place: on Linux both folders swap names in one step (``renameat2`` with ``RENAME_EXCHANGE``) and
the previous results, now under the temporary name, are deleted; elsewhere (or on a file
system without the exchange) the previous folder is renamed to a trash name
(``.<name>.old-<pid>-<tag>``), the new one renamed into place, and the trash deleted. So the
target is always either the previous results, whole, or the new ones, whole (with the
fallback it is briefly absent: a process killed then leaves the previous results in the trash
folder, and the next write of the same target puts them back before it starts). Temporary
and trash folders of processes that no longer run are removed then too (only those of dead
processes on this host: a live writer's folder is never touched).
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ersgrid.errors import ErsgridError

__all__ = ["clean_stale", "replacing", "stale_folders"]

_KINDS = ("old", "tmp")  # trash folders first: they may have to be put back


def _sibling(target: Path, kind: str) -> Path:
    return target.parent / f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(3)}"


def _owner(target: Path, entry: Path) -> tuple[str, int] | None:
    """``(kind, pid)`` when ``entry`` is a temporary or trash folder of ``target``."""
    prefix = f".{target.name}."
    if not entry.name.startswith(prefix):
        return None
    kind, _, rest = entry.name[len(prefix) :].partition("-")
    pid = rest.split("-", 1)[0]
    if kind not in _KINDS or not pid.isdigit():
        return None
    return kind, int(pid)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def stale_folders(target: Path) -> list[Path]:
    """Temporary and trash folders of ``target`` whose writing process is gone, trash first.

    Parameters
    ----------
    target : Path
        The results folder.
    """
    parent = target.parent
    if not parent.is_dir():
        return []
    found: list[tuple[int, str, Path]] = []
    for entry in parent.iterdir():
        owner = _owner(target, entry)
        if owner is not None and not _alive(owner[1]):
            found.append((_KINDS.index(owner[0]), entry.name, entry))
    return [entry for _, _, entry in sorted(found)]


def clean_stale(target: Path) -> None:
    """Put back previous results a dead writer left in its trash folder, remove the rest.

    A writer killed between its two renames leaves no ``target`` and the previous results in
    ``.<name>.old-<pid>-<tag>``: they are renamed back to ``target``. Every other stale folder
    (an unfinished new folder, or a trash folder whose replacement did land) is deleted.
    """
    for entry in stale_folders(target):
        owner = _owner(target, entry)
        if owner is not None and owner[0] == "old" and not target.exists():
            os.rename(entry, target)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _check_target(target: Path, markers: tuple[str, ...]) -> None:
    if target.exists() and not target.is_dir():
        raise ErsgridError(f"{str(target)!r} is a file: give a folder for the results")
    holds_results = any((target / name).is_file() for name in markers)
    if target.is_dir() and any(target.iterdir()) and not holds_results:
        raise ErsgridError(
            f"{str(target)!r} is not empty and holds no results (no {' or '.join(markers)}): "
            "a results folder is replaced as a whole, so ersgrid does not write into this "
            "one; choose another folder (--out) or empty it"
        )


@contextmanager
def replacing(target: Path, markers: tuple[str, ...]) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success it replaces ``target``.

    On any exception (KeyboardInterrupt included) the temporary folder is removed and
    ``target`` is left as it was.

    Parameters
    ----------
    target : Path
        The results folder to (re)place. It must be absent, empty, or an earlier results
        folder (holding one of ``markers``): any other folder is refused, never replaced.
    markers : tuple of str
        File names that mark a results folder (e.g. ``kpis.json``).

    Raises
    ------
    ErsgridError
        If ``target`` is a file or a folder that holds something other than results, or the
        parent cannot be written.
    """
    target = Path(os.path.abspath(target))
    _check_target(target, markers)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(target)
        tmp = _sibling(target, "tmp")
        tmp.mkdir()
    except OSError as err:
        raise ErsgridError(f"cannot write results to {str(target)!r}: {err}") from None
    try:
        yield tmp
        _swap(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # a C library without it
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # kernel or file system lacks it
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap(tmp: Path, target: Path) -> None:
    """Put ``tmp`` at ``target``; a previous ``target`` is deleted once the new one is there."""
    try:
        if not target.exists():
            os.rename(tmp, target)
            return
        if _exchange(tmp, target):  # tmp now holds the previous results
            shutil.rmtree(tmp, ignore_errors=True)
            return
        trash = _sibling(target, "old")
        os.rename(target, trash)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(trash, target)
            raise
    except OSError as err:
        raise ErsgridError(f"cannot put the results in place at {str(target)!r}: {err}") from None
    shutil.rmtree(trash, ignore_errors=True)
