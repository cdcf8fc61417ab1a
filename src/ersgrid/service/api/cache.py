"""Views of the live loop rendered once per revision and served as bytes.

Two hundred dashboards polling ``/api/state`` between two ticks all read the same state;
rendering it (a thousand segments) and serialising it per request cost more than the rest
of the request. A :class:`Rendered` view keeps the JSON of the revision it was rendered at
and renders again only when the loop's revision moves (a tick, a held limit, a fault, an
alarm or a DR event), so an answer is never older than the state it describes.

While the API is served, the live loop renders the views read since their last render in
its own thread right after each tick (:meth:`Rendered.refresh`, its first observer), so a
request finds the view ready. A request that comes while that render is under way waits for
it without holding the event loop (:meth:`Rendered.body_async`); one that finds the view
older than the loop and nobody rendering (a change between ticks) renders it itself.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Hashable
from typing import Any

from fastapi import Response

from ersgrid.jsonsafe import json_safe

__all__ = ["Rendered"]

_POLL_S = 0.002  # how often a request waiting for a render looks again [s]


class Rendered:
    """One JSON view, rendered at most once per revision.

    Parameters
    ----------
    render : callable
        Builds the view (a JSON-able object) from the loop as it is now.
    revision : callable
        The loop's revision; equal revisions mean an equal view.
    """

    def __init__(self, render: Callable[[], Any], revision: Callable[[], Hashable]) -> None:
        self._render_view = render
        self._revision = revision
        self._lock = threading.Lock()
        self._key: Hashable = object()  # equal to no revision
        self._body = b""
        self._read = False  # read since the last render
        self.renders = 0
        """How many times the view was rendered [-]."""

    def body(self) -> bytes:
        """The view's JSON (UTF-8) at the loop's current revision (rendered here if older)."""
        self._read = True
        return self._current()

    async def body_async(self) -> bytes:
        """:meth:`body` for the event loop: while the live loop's thread renders the view,
        the request waits for it without holding the event loop, so other requests go on."""
        self._read = True
        while True:
            key = self._revision()
            if key == self._key:
                return self._body
            if self._lock.acquire(blocking=False):  # nobody renders: render here
                try:
                    return self._render(key)
                finally:
                    self._lock.release()
            await asyncio.sleep(_POLL_S)

    def refresh(self) -> None:
        """Render at the current revision if the view was read since its last render: the
        live loop's observer after a tick, in the loop's thread (nobody reading, no work).

        It never waits for a render under way in another thread: that render may be
        waiting for the loop's lock, which the loop's thread holds while it calls this.
        """
        if self._read and self._lock.acquire(blocking=False):
            try:
                self._read = False
                self._render(self._revision())
            finally:
                self._lock.release()

    def _current(self) -> bytes:
        key = self._revision()
        if key == self._key:
            return self._body
        with self._lock:
            return self._render(key)

    def _render(self, key: Hashable) -> bytes:
        """The body at ``key``, rendered unless it already is; the caller holds the lock.

        The revision is read before rendering: a change during the render only makes the
        next request render again."""
        if key != self._key:
            self._body = json.dumps(
                json_safe(self._render_view()), ensure_ascii=False, allow_nan=False,
                separators=(",", ":"),
            ).encode()  # fmt: skip
            self._key = key
            self.renders += 1
        return self._body

    async def response(self) -> Response:
        """The view as an ``application/json`` response (see :meth:`body_async`)."""
        return Response(await self.body_async(), media_type="application/json")
