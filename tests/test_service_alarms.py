"""The alarm book's running counts and the store's group commit."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ersgrid.service.alarms import AlarmBook
from ersgrid.service.storage import Store, committed, deferred_commits

OPS = st.lists(
    st.tuples(st.sampled_from(["raise", "operator", "clear", "ack"]), st.integers(0, 5)),
    max_size=60,
)


@given(OPS)
@settings(max_examples=60, deadline=None)
def test_running_counts_equal_a_count_of_every_alarm(ops: list[tuple[str, int]]) -> None:
    book = AlarmBook(lambda: "2035-04-02T00:00:00")
    for op, k in ops:
        if op == "raise":
            book.raise_alarm("device_stale", f"s{k}", "silent", source="mqtt")
        elif op == "operator":
            book.raise_alarm("operator", "corridor", "look", source="operator")
        elif op == "clear":
            book.clear("device_stale", f"s{k}")
        elif book.get(k + 1) is not None:
            book.acknowledge(k + 1)
        every = book.list(limit=10_000)
        assert book.count(active=True) == sum(a.active for a in every)
        assert book.count(acknowledged=False) == sum(not a.acknowledged for a in every)
        assert book.count() == len(every)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip


@given(st.dictionaries(st.text(max_size=4), JSON, max_size=4), st.booleans())
@settings(max_examples=60, deadline=None)
def test_an_alarm_as_dict_is_dataclasses_asdict_and_a_copy(data: dict[str, Any], ack: bool) -> None:
    book = AlarmBook(lambda: "2035-04-02T00:00:00")
    alarm = book.raise_alarm("meter_balance", "sub1", "gap", source="anomaly", data=data)
    if ack:
        book.acknowledge(alarm.id, "ops")
        book.clear("meter_balance", "sub1")
    view, before = alarm.as_dict(), dataclasses.asdict(alarm)
    assert view == before
    assert list(view) == [f.name for f in dataclasses.fields(alarm)]
    view["data"]["changed"] = [1]
    for value in view["data"].values():
        if isinstance(value, list | dict):
            value.clear()
    view["active"] = None
    assert alarm.as_dict() == before


def test_alarms_raised_at_once_share_commits_and_all_are_stored(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.start()
    book = AlarmBook(lambda: "2035-04-02T00:00:00", on_change=store.save_alarm)
    barrier = threading.Barrier(20)

    def operator(k: int) -> None:
        barrier.wait()
        for j in range(10):
            book.raise_alarm("operator", "corridor", f"op {k}.{j}")

    threads = [threading.Thread(target=operator, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # each call returned after its commit: every row is there before the writer stops
    assert len(store.rows("alarms")) == 200
    store.stop()
    assert store.write_errors == 0


def test_a_deferred_write_is_committed_when_awaited(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}", flush_s=5.0)
    store.start()
    book = AlarmBook(lambda: "2035-04-02T00:00:00", on_change=store.save_alarm)

    async def route() -> int:
        with deferred_commits() as pending:
            book.raise_alarm("operator", "corridor", "from an async route")
        assert len(pending) == 1
        await committed(pending)
        return len(store.rows("alarms"))

    assert asyncio.run(route()) == 1
    store.stop()
