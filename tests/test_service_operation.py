"""What an operator steers in the live service: limit overrides, the strategy, the trends of the
store, and what the state shows of generation, storage and V2G."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ersgrid.run.runner import LIMIT_TOLERANCE_KW
from ersgrid.scenario.schema import Scenario
from ersgrid.service.app import Service, create_app
from ersgrid.service.live import LiveLoop, TickReport
from ersgrid.service.storage import TREND_COLUMNS, Store
from ersgrid.service.studies import Studies
from live_server import login, secure


@pytest.fixture
def service(tiny: Scenario, tmp_path: Path) -> Iterator[Service]:
    loop = LiveLoop(tiny, days=1.0, speed=60.0)  # never started: the tests tick it
    store = Store(f"sqlite:///{tmp_path / 'ersgrid.db'}")
    store.attach(loop)
    svc = Service(loop=loop, studies=Studies(tmp_path / "runs"), extras={"storage": store})
    secure(svc, tmp_path)
    yield svc
    svc.studies.shutdown()


def client_of(service: Service, role: str) -> TestClient:
    client = TestClient(create_app(service))
    client.headers.update(login(client, role))
    return client


@pytest.fixture
def operator(service: Service) -> TestClient:
    return client_of(service, "operator")


@pytest.fixture
def viewer(service: Service) -> TestClient:
    return client_of(service, "viewer")


def test_a_limit_override_is_one_more_cap_the_twin_keeps(
    service: Service, operator: TestClient
) -> None:
    loop = service.loop
    body = {"substation": "SS-Test", "start": "2035-04-02T08:00", "end": "2035-04-02T10:00",
            "limit_kw": 250.0, "reason": "transformer maintenance"}  # fmt: skip
    override = operator.post("/api/limit-overrides", json=body).json()
    assert override["status"] == "scheduled"
    assert override["substation"] == "SS-Test"
    # a looser DR event at the same time: the tighter of the two holds
    dr = {"start": "2035-04-02T08:00", "end": "2035-04-02T09:00", "import_limit_kw": 400.0}
    assert operator.post("/api/dr-events", json=dr).status_code == 201
    loop.run_for(8 * 3600)
    (sub,) = operator.get("/api/state").json()["substations"]
    assert sub["override_kw"] == 250.0
    assert sub["dr_cap_kw"] == 400.0
    assert sub["import_cap_kw"] == 250.0
    assert operator.get("/api/plan").json()["in_force"]["sub_import_cap_kw"]["SS-Test"] == 250.0
    imports = []
    for _ in range(2 * 240):
        rep = loop.tick()
        assert rep is not None
        imports.append(float(rep.sub_import_kw[0]))
    assert max(imports) <= 250.0 + 1e-6
    assert max(imports) > 240.0  # the morning's demand is there: the override binds
    assert operator.get("/api/limit-overrides").json()[0]["status"] == "ended"
    after = [float(r.sub_import_kw[0]) for _ in range(60) if (r := loop.tick()) is not None]
    assert max(after) > 250.0 + 1.0  # lifted at its end
    kpis = operator.get("/api/state").json()["limit_violations"]
    assert kpis == {"rating": 0, "import": 0, "dr": 0, "export": 0, "override": 0}
    # stored with the alarms and DR events
    (row,) = service.extras["storage"].rows("limit_overrides")
    assert (row["substation"], row["limit_kw"], row["cancelled"]) == ("SS-Test", 250.0, False)


def test_an_override_the_twin_cannot_keep_is_counted(
    service: Service, operator: TestClient
) -> None:
    """0 kW from 01:15 to 02:00: the service area's loads exceed the wind then, so they import
    whatever the road does, and each of the three steps the override held through breaks it;
    a cap that held through no whole step counts nothing (the 15-min means cannot tell)."""
    loop = service.loop
    en = loop.context.energy
    assert (en.other_load_kw[5:8, 0] > en.renewable_kw[5:8, 0]).all()  # tiny's night
    for start, end in (("01:15", "02:00"), ("03:05", "03:25")):
        body = {"substation": "SS-Test", "start": f"2035-04-02T{start}",
                "end": f"2035-04-02T{end}", "limit_kw": 0.0}  # fmt: skip
        assert operator.post("/api/limit-overrides", json=body).status_code == 201
    loop.run_for(4 * 3600)
    records = loop.stepper.records
    assert len(records) == 16
    importing = [float(r.import_kw[0]) > LIMIT_TOLERANCE_KW for r in records]
    assert all(importing[5:8])  # 0 kW cannot be kept
    assert any(importing[12:14])  # nor in the short window, which held through no step
    kpis = loop.limit_kpis()
    assert kpis["dr"] == kpis["override"] == 3
    assert kpis["import"] == 0
    # the same window as a DR event: now the DR caps alone account for it
    loop2 = LiveLoop(loop.scenario, days=1.0)
    window = (pd.Timestamp("2035-04-02T01:15", tz="Asia/Tokyo"),
              pd.Timestamp("2035-04-02T02:00", tz="Asia/Tokyo"))  # fmt: skip
    loop2.dr.create(*window, 0.0)
    loop2.overrides.create(*window, 0.0)
    loop2.run_for(3 * 3600)
    assert loop2.limit_kpis() | {"rating": 0} == {"rating": 0, "import": 0, "dr": 3,
                                                  "export": 0, "override": 0}  # fmt: skip


def test_the_run_result_counts_the_live_caps(tiny: Scenario) -> None:
    """At the end, the run's limit_violations_dr KPI counts what the live view counted."""
    loop = LiveLoop(tiny, days=1.0)
    tokyo = "Asia/Tokyo"
    loop.overrides.create(pd.Timestamp("2035-04-02T01:30", tz=tokyo),
                          pd.Timestamp("2035-04-02T02:00", tz=tokyo), 0.0)  # fmt: skip
    while loop.tick() is not None:
        pass
    assert loop.result is not None
    assert loop.result.kpis["limit_violations_dr"] == loop.limit_kpis()["dr"] == 2


def test_the_strategy_switches_at_the_next_step(service: Service, operator: TestClient) -> None:
    loop = service.loop
    loop.run_for(600)  # 10 min into the first step
    assert loop.policy.name == "uncontrolled"
    view = operator.put("/api/strategy", json={"strategy": "tou"}).json()
    assert view["strategy"] == "uncontrolled"
    assert view["pending"] == "tou"
    assert view["takes_over_at"] == loop.index[1].isoformat()
    assert "mpc" in view["available"]
    state = operator.get("/api/state").json()
    assert (state["strategy"], state["strategy_pending"]) == ("uncontrolled", "tou")
    loop.run_for(240)  # still the first step: it runs under the dispatch it started with
    assert loop.policy.name == "uncontrolled"
    assert loop.plan_step == 0
    loop.run_for(300)
    assert loop.plan_step == 1
    assert loop.policy.name == loop.stepper.policy.name == "tou"
    assert loop.decided_at == loop.index[1]
    plan = operator.get("/api/plan").json()
    assert plan["strategy"] == "tou"
    view = operator.get("/api/strategy").json()
    assert view["pending"] is None
    assert view["changes"] == [{"time": loop.index[1].isoformat(), "from": "uncontrolled",
                                "to": "tou"}]  # fmt: skip
    # naming the strategy in force cancels a pending switch
    operator.put("/api/strategy", json={"strategy": "uncontrolled"})
    assert operator.put("/api/strategy", json={"strategy": "tou"}).json()["pending"] is None


def test_bad_strategies_and_overrides_are_422_naming_the_field(
    service: Service, operator: TestClient
) -> None:
    for name in ("no-such-strategy", "uncontrolled:fast", "nowhere.mod:Cls"):
        resp = operator.put("/api/strategy", json={"strategy": name})
        assert resp.status_code == 422
        (detail,) = resp.json()["detail"]
        assert detail["loc"] == ["body", "strategy"]
        assert name in detail["msg"]
    assert service.loop.pending_policy is None
    window = {"start": "2035-04-02T08:00", "end": "2035-04-02T09:00"}
    for body, field in (
        ({"substation": "SS-Nowhere", **window, "limit_kw": 1}, "substation"),
        ({"substation": "SS-Test", "start": "2035-04-02T08:00", "end": "2035-04-02T07:00",
          "limit_kw": 1}, "end"),
        ({"substation": "SS-Test", **window, "limit_kw": -1}, "limit_kw"),
        ({"substation": "SS-Test", **window}, "limit_kw"),
        ({"substation": "SS-Test", "start": "0001-01-01T00:00", "end": "2035-04-02T07:00",
          "limit_kw": 1}, "start"),
    ):  # fmt: skip
        resp = operator.post("/api/limit-overrides", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert any(field in d["loc"] for d in resp.json()["detail"]), resp.json()
    assert operator.get("/api/limit-overrides").json() == []


def test_a_viewer_may_read_but_not_steer(service: Service, viewer: TestClient) -> None:
    body = {"substation": "SS-Test", "start": "2035-04-02T08:00", "end": "2035-04-02T09:00",
            "limit_kw": 100}  # fmt: skip
    assert viewer.post("/api/limit-overrides", json=body).status_code == 403
    assert viewer.put("/api/strategy", json={"strategy": "tou"}).status_code == 403
    assert viewer.get("/api/strategy").json()["strategy"] == "uncontrolled"
    assert viewer.get("/api/limit-overrides").json() == []
    assert service.loop.pending_policy is None


def test_cancelling_an_override_lifts_it(service: Service, operator: TestClient) -> None:
    body = {"substation": "SS-Test", "start": "2035-04-02T00:00", "end": "2035-04-03T00:00",
            "limit_kw": 100}  # fmt: skip
    override = operator.post("/api/limit-overrides", json=body).json()
    service.loop.run_for(600)
    assert operator.get("/api/state").json()["substations"][0]["import_cap_kw"] == 100.0
    cancelled = operator.delete(f"/api/limit-overrides/{override['id']}").json()
    assert cancelled["status"] == "cancelled"
    assert operator.get("/api/state").json()["substations"][0]["import_cap_kw"] is None
    resp = operator.delete("/api/limit-overrides/99")
    assert resp.status_code == 404
    assert "limit override" in resp.json()["detail"]


def test_state_shows_generation_storage_and_v2g_per_substation(
    service: Service, viewer: TestClient
) -> None:
    loop = service.loop
    loop.run_for(12 * 3600)  # noon: PV
    state = viewer.get("/api/state").json()
    (sub,) = state["substations"]
    rep = loop.last
    assert rep is not None
    k = rep.plan_step
    ren = float(loop.context.energy.renewable_kw[k, 0])
    assert sub["pv_kw"] > 0
    assert sub["pv_kw"] + sub["wind_kw"] == pytest.approx(ren, abs=2e-3)  # two roundings
    assert state["pv_kw"] == sub["pv_kw"]
    assert sub["v2g_kw"] == pytest.approx(float(rep.seg_v2g_kw.sum()), abs=1e-3)
    assert sub["storage_kw"] == pytest.approx(float(rep.sub_storage_kw[0]), abs=1e-3)
    stored = float(loop.stepper.stored_kwh[0])
    assert sub["storage_kwh"] == pytest.approx(stored, abs=1e-3)
    assert sub["storage_soc"] == pytest.approx(stored / 1600.0, abs=1e-3)  # tiny: 1600 kWh


def test_trends_over_a_range_as_json_and_csv(service: Service, viewer: TestClient) -> None:
    loop = service.loop
    reports: list[TickReport] = []
    loop.observers.append(reports.append)
    loop.run_for(2 * 3600)
    store = service.extras["storage"]
    store.flush()
    tz = "Asia/Tokyo"
    query = {"start": "2035-04-02T00:30", "end": "2035-04-02T01:00"}
    raw = viewer.get("/api/trends", params=query | {"step_s": 0}).json()
    rows = raw["rows"]
    in_range = [r for r in reports if pd.Timestamp("2035-04-02T00:30", tz=tz) <= r.time
                < pd.Timestamp("2035-04-02T01:00", tz=tz)]  # fmt: skip
    assert len(rows) == len(in_range) == 120  # 30 min of 15 s ticks, one substation
    for row, rep in zip(rows, in_range, strict=True):
        assert pd.Timestamp(row["time"]) == rep.time
        assert row["import_kw"] == pytest.approx(float(rep.sub_import_kw[0]))
        assert row["road_kw"] == pytest.approx(float(rep.sub_road_kw[0]))
        assert row["v2g_kw"] == pytest.approx(float(rep.seg_v2g_kw.sum()))
        assert row["import_cap_kw"] is None
    # averaged over 10-min buckets: the means of the rows in each
    means = viewer.get("/api/trends", params=query | {"step_s": 600}).json()["rows"]
    assert len(means) == 3
    first = [float(r.sub_road_kw[0]) for r in in_range[:40]]
    assert means[0]["road_kw"] == pytest.approx(np.mean(first))
    assert pd.Timestamp(means[1]["time"]) == pd.Timestamp("2035-04-02T00:40", tz=tz)
    # without a step the JSON answer holds at most 2000 times
    assert len(viewer.get("/api/trends").json()["rows"]) <= 2000
    resp = viewer.get("/api/trends.csv", params=query)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert list(table[0]) == ["time", *TREND_COLUMNS[1:]]
    assert len(table) == 120
    assert [float(r["import_kw"]) for r in table] == [r["import_kw"] for r in rows]
    assert table[0]["import_cap_kw"] == ""


def test_bad_trend_queries_name_the_field(service: Service, viewer: TestClient) -> None:
    service.loop.run_for(600)
    service.extras["storage"].flush()
    for params, field in (
        ({"substation": "SS-Nowhere"}, "substation"),
        ({"start": "2035-04-02T01:00", "end": "2035-04-02T00:00"}, "end"),
        ({"start": "yesterday"}, "start"),
        ({"step_s": -1}, "step_s"),
    ):
        for path in ("/api/trends", "/api/trends.csv"):
            resp = viewer.get(path, params=params)
            assert resp.status_code == 422, (path, params, resp.text)
            assert any(field in d["loc"] for d in resp.json()["detail"]), resp.json()


def test_trends_need_a_store(tiny: Scenario, tmp_path: Path) -> None:
    svc = Service(loop=LiveLoop(tiny, days=1.0), studies=Studies(tmp_path / "runs"))
    secure(svc, tmp_path)
    client = client_of(svc, "viewer")
    resp = client.get("/api/trends")
    assert resp.status_code == 409
    assert "store" in resp.json()["detail"]
    svc.studies.shutdown()
