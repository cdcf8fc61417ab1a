"""Views of the live loop rendered once per revision and served as bytes.

Two hundred dashboards polling ``/api/state`` between two ticks all read the same state;
rendering it (a thousand segments) and serialising it per request cost more than the rest
of the request. A :class:`Rendered` view keeps the JSON of the revision it was rendered at
and renders again only when the loop's revision moves (a tick, a held limit, a fault, an
alarm or a DR event), so an answer is never older than the state it describes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable
from typing import Any

from fastapi import Response

from ersgrid.jsonsafe import json_safe

__all__ = ["Rendered"]


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
        self._render = render
        self._revision = revision
        self._lock = threading.Lock()
        self._key: Hashable = object()  # equal to no revision
        self._body = b""

    def body(self) -> bytes:
        """The view's JSON (UTF-8) at the loop's current revision."""
        key = self._revision()
        if key == self._key:
            return self._body
        with self._lock:
            if key != self._key:
                # read the revision before rendering: a change during the render only
                # makes the next request render again
                self._body = json.dumps(
                    json_safe(self._render()), ensure_ascii=False, allow_nan=False,
                    separators=(",", ":"),
                ).encode()  # fmt: skip
                self._key = key
            return self._body

    def response(self) -> Response:
        """The view as an ``application/json`` response."""
        return Response(self.body(), media_type="application/json")
