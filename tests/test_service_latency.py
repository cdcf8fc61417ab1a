"""What keeps the service's event loop free: the start-up heap out of the collector's full
passes, and views of the live loop rendered in the loop's thread after a tick."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from ersgrid.scenario.schema import Scenario
from ersgrid.service import server
from ersgrid.service.api import state as state_api
from ersgrid.service.api.cache import Rendered
from ersgrid.service.app import Service, create_app
from ersgrid.service.live import LiveLoop
from ersgrid.service.server import freeze_startup_heap
from ersgrid.service.studies import Studies


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_the_start_up_heap_is_frozen_and_later_garbage_still_collected(unfreeze: None) -> None:
    with warnings.catch_warnings():  # what earlier tests left unclosed is not this test's
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
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


class _Views:
    """A revision counter and a view of it that counts its renders."""

    def __init__(self) -> None:
        self.revision = 0
        self.view = Rendered(lambda: {"revision": self.revision}, lambda: self.revision)

    def read(self, body: bytes) -> int:
        seen: int = json.loads(body)["revision"]
        return seen


@given(st.lists(st.sampled_from(["change", "tick", "read", "read_async"]), max_size=40))
@settings(max_examples=80, deadline=None)
def test_a_rendered_view_is_never_older_than_the_revision_it_is_served_at(ops: list[str]) -> None:
    views, renders, read_since = _Views(), 0, False
    for op in ops:
        if op in ("change", "tick"):
            views.revision += 1
        if op == "tick":  # the loop's observer: renders only what was read since
            views.view.refresh()
            renders += read_since
            read_since = False
        elif op.startswith("read"):
            stale = views.view.renders == 0 or views.read(views.view._body) != views.revision
            body = asyncio.run(views.view.body_async()) if op == "read_async" else views.view.body()
            assert views.read(body) == views.revision
            renders += stale
            read_since = True
        assert views.view.renders == renders


def test_readers_on_the_event_loop_get_the_revision_the_loop_thread_renders() -> None:
    views = _Views()
    stop = threading.Event()

    def ticks() -> None:  # the live loop: change, then render in its own thread
        while not stop.is_set():
            views.revision += 1
            views.view.refresh()
            time.sleep(0.0005)

    async def readers() -> list[tuple[int, int]]:
        async def one() -> list[tuple[int, int]]:
            got = []
            deadline = time.monotonic() + 30.0
            # read until the loop thread has rendered many revisions (a loaded machine may
            # give it few turns), a sleep lets it take the interpreter
            while (len(got) < 100 or views.revision <= 20) and time.monotonic() < deadline:
                before = views.revision
                got.append((before, views.read(await views.view.body_async())))
                await asyncio.sleep(0.0002)
            return got

        runs = await asyncio.gather(*(one() for _ in range(20)))
        return [pair for run in runs for pair in run]

    thread = threading.Thread(target=ticks)
    thread.start()
    try:
        pairs = asyncio.run(readers())
    finally:
        stop.set()
        thread.join()
    assert all(served >= before for before, served in pairs)
    assert views.revision > 20  # the readers met many renders


def test_while_served_the_loop_renders_the_state_after_a_tick(
    tiny: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = LiveLoop(tiny, days=1.0, speed=60.0)
    service = Service(loop=loop, studies=Studies(tmp_path / "runs"))
    try:
        with TestClient(create_app(service)) as client:
            assert len(loop.observers) == 1
            loop.tick()
            assert client.get("/api/state").json()["ticks"] == 1
            client.get("/api/plan")
            loop.tick()  # renders both views in this thread, before anyone asks

            def no_render(_loop: LiveLoop) -> dict[str, Any]:
                raise AssertionError("a request rendered the view")

            monkeypatch.setattr(state_api, "live_core", no_render)
            monkeypatch.setattr(state_api, "plan_view", no_render)
            state = client.get("/api/state").json()
            assert state["ticks"] == 2
            assert state["time"] == loop.now.isoformat()
            assert client.get("/api/plan").json()["plan_step"] == loop.plan_step
            monkeypatch.undo()
            loop.set_safe(0, True)  # a change between ticks: the request renders it
            assert client.get("/api/plan").json()["in_force"]["safe_limit_segments"] == [
                loop.layout.seg_ids[0]
            ]
        assert loop.observers == []
    finally:
        service.studies.shutdown()
