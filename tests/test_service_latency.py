"""What keeps the service's event loop free: the start-up heap out of the collector's full
passes."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ersgrid.scenario.schema import Scenario
from ersgrid.service import server
from ersgrid.service.app import Service
from ersgrid.service.live import LiveLoop
from ersgrid.service.server import freeze_startup_heap
from ersgrid.service.studies import Studies


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_the_start_up_heap_is_frozen_and_later_garbage_still_collected(unfreeze: None) -> None:
    before: list[Any] = [[i] for i in range(10)]
    count = freeze_startup_heap()
    assert count == gc.get_freeze_count() > 0
    tracked = {id(o) for o in gc.get_objects()}
    assert id(before) not in tracked
    assert not any(id(x) in tracked for x in before)
    after = _Node()
    after.me = after  # a cycle: only the collector frees it
    probe = weakref.ref(after)
    del after
    gc.collect()
    assert probe() is None


class _Node:
    me: Any = None


def test_serve_freezes_the_heap_before_the_loop_starts(
    tiny: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unfreeze: None
) -> None:
    loop = LiveLoop(tiny, days=1.0, speed=60.0)
    service = Service(loop=loop, studies=Studies(tmp_path / "runs"))
    seen: list[str] = []
    monkeypatch.setattr(
        server, "freeze_startup_heap", lambda: seen.append(f"freeze, running={loop.running}")
    )
    monkeypatch.setattr(
        "uvicorn.run", lambda *a, **k: seen.append(f"serve, running={loop.running}")
    )
    server.serve(service)
    assert seen == ["freeze, running=False", "serve, running=True"]
    assert not loop.running
