"""The live loop and its REST API: state, plan, DR events, alarms, studies, bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
from ersgrid.grid.frequency import steady_deviation_hz
from ersgrid.run.runner import run
from ersgrid.scenario.schema import Scenario
from ersgrid.service.app import Service, create_app
from ersgrid.service.live import LiveLoop
from ersgrid.service.studies import Studies
from live_server import login, secure


@pytest.fixture
def service(tiny: Scenario, tmp_path: Path) -> Iterator[Service]:
    loop = LiveLoop(tiny, days=1.0, speed=60.0)
    svc = Service(loop=loop, studies=Studies(tmp_path / "runs"))
    secure(svc, tmp_path)
    yield svc
    loop.stop()
    svc.studies.shutdown()


@pytest.fixture
def client(service: Service) -> TestClient:
    """A client logged in as admin (every route open to it)."""
    client = TestClient(create_app(service))
    client.headers.update(login(client, "admin"))
    return client


def test_live_loop_reproduces_the_study_run(tiny: Scenario) -> None:
    """Ticking the twin in 15 s blocks meters exactly what the study runner meters."""
    loop = LiveLoop(tiny, days=1.0)
    road_kwh = 0.0
    while (rep := loop.tick()) is not None:
        road_kwh += float(rep.sub_road_kw.sum()) * rep.duration_s / 3600.0
    assert loop.finished
    ref = run(tiny, days=1.0)
    expected = ref.kpis["energy_delivered_kwh"] + ref.kpis["losses_kwh"]
    assert road_kwh == pytest.approx(expected, rel=1e-9)
    assert len(loop.history) == 96
    hist_kwh = sum(row["road_kw"] for row in loop.history) * 0.25
    assert hist_kwh == pytest.approx(expected, rel=1e-9)


def test_state_reports_every_segment_and_substation(
    tiny: Scenario, service: Service, client: TestClient
) -> None:
    service.loop.run_for(9 * 3600)  # 09:00, morning traffic
    corridor = client.get("/api/scenario").json()
    state = client.get("/api/state").json()
    assert [s["id"] for s in state["segments"]] == [s["id"] for s in corridor["segments"]]
    assert state["time"].startswith("2035-04-02T09:00")
    seg_kw = sum(s["power_kw"] for s in state["segments"])
    assert seg_kw > 0
    (sub,) = state["substations"]
    # every value is rounded to 1e-3 kW in the JSON: the sum carries one rounding per segment
    assert sub["road_kw"] == pytest.approx(seg_kw, abs=1e-3 * len(state["segments"]))
    assert service.loop.last is not None
    k = service.loop.last.plan_step
    ren = float(service.loop.context.energy.renewable_kw[k, 0])
    assert sub["renewable_kw"] == pytest.approx(ren, abs=1e-3)
    site = sub["road_kw"] + sub["storage_kw"] + sub["charger_kw"] + sub["other_load_kw"] - ren
    assert sub["import_kw"] == pytest.approx(max(site, 0.0), abs=5e-3)  # values rounded to 1e-3
    assert sum(s["vehicles"] for s in state["segments"]) <= state["vehicles_on_road"]
    assert sum(state["soc"]["counts"]) == state["vehicles_on_road"] > 0
    assert all(s["power_kw"] <= s["limit_kw"] + 1e-6 for s in state["segments"])
    assert state["price_per_kwh"] > 0
    plan = client.get("/api/plan").json()
    assert plan["strategy"] == "uncontrolled"
    assert plan["decided_at"].startswith(
        "2035-04-02T08:45"
    )  # the next decision comes at the next tick
    assert plan["decided"]["sub_limit_kw"]["SS-Test"] == 1200.0
    history = client.get("/api/history").json()
    assert len(history) == 36
    # forecast against actual: ERS vehicles that entered per step, as the twin's arrivals
    arrivals_s = service.loop.world.arrivals.time_s
    assert sum(row["ers_entered"] for row in history) == int((arrivals_s < 9 * 3600).sum())
    assert [row["ers_entered_forecast"] for row in history] == pytest.approx(
        service.loop.ers_forecast[:36]
    )
    assert state["traffic"]["ers_entered_forecast"] == pytest.approx(
        service.loop.ers_forecast[36], abs=1e-3
    )
    assert plan["forecast"]["plan_step"] == 36
    # system frequency: nominal plus the model's settled deviation for the import's change
    rep = service.loop.last
    assert rep is not None
    schedule_kw = history[-2]["import_kw"]  # the tick that ended step 35 ran on step 34's
    deviation_hz = steady_deviation_hz(
        tiny.frequency, (rep.sub_import_kw.sum() - schedule_kw) / 1e3
    )
    assert state["frequency_hz"] == pytest.approx(50.0 + deviation_hz, abs=1e-6)


def test_dr_event_caps_substation_import(service: Service, client: TestClient) -> None:
    loop = service.loop
    body = {"start": "2035-04-02T08:00", "end": "2035-04-02T10:00", "import_limit_kw": 200.0}
    event = client.post("/api/dr-events", json=body).json()
    assert event["status"] == "scheduled"
    assert event["substations"] == ["SS-Test"]
    loop.run_for(8 * 3600)
    assert client.get("/api/dr-events").json()[0]["status"] == "active"
    plan = client.get("/api/plan").json()
    assert plan["in_force"]["sub_import_cap_kw"]["SS-Test"] == 200.0
    en, k = loop.context.energy, loop.plan_step
    room = 200.0 - en.other_load_kw[k, 0] + en.renewable_kw[k, 0]  # what the other loads leave
    assert plan["in_force"]["sub_limit_kw"]["SS-Test"] == pytest.approx(
        min(max(room, 0), 1200), abs=0.01
    )
    imports = []
    for _ in range(2 * 240):
        rep = loop.tick()
        assert rep is not None
        imports.append(float(rep.sub_import_kw[0]))
    assert max(imports) <= 200.0 + 1e-6
    assert max(imports) > 190.0  # demand is there: the cap binds
    assert client.get("/api/dr-events").json()[0]["status"] == "ended"
    after = [float(rep.sub_import_kw[0]) for _ in range(60) if (rep := loop.tick()) is not None]
    assert max(after) > 200.0 + 1.0  # morning demand goes above the cap once it is lifted


def test_cancelled_dr_event_lifts_the_cap(service: Service, client: TestClient) -> None:
    body = {"start": "2035-04-02T00:00", "end": "2035-04-03T00:00", "import_limit_kw": 100.0}
    event = client.post("/api/dr-events", json=body).json()
    service.loop.run_for(600)
    en, k = service.loop.context.energy, service.loop.plan_step
    room = max(100.0 - en.other_load_kw[k, 0] + en.renewable_kw[k, 0], 0.0)
    in_force = client.get("/api/plan").json()["in_force"]["sub_limit_kw"]["SS-Test"]
    assert in_force == pytest.approx(min(room, 1200.0), abs=0.01)  # the API rounds to 0.01 kW
    cancelled = client.delete(f"/api/dr-events/{event['id']}").json()
    assert cancelled["status"] == "cancelled"
    assert client.get("/api/plan").json()["in_force"]["sub_limit_kw"]["SS-Test"] == 1200.0
    assert client.delete("/api/dr-events/999").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2035-04-02T08:00", "end": "2035-04-02T07:00", "import_limit_kw": 1}, "end"),
        ({"start": "2035-04-02T08:00", "end": "2035-04-02T09:00", "import_limit_kw": -5},
         "import_limit_kw"),
        ({"start": "not a time", "end": "2035-04-02T09:00", "import_limit_kw": 1}, "start"),
        ({"start": "2035-04-02T08:00", "end": "2035-04-02T09:00", "import_limit_kw": 1,
          "substations": ["SS-Test", "SS-Nowhere"]}, "substations"),
        ({"start": "2035-04-02T08:00", "end": "2035-04-02T09:00"}, "import_limit_kw"),
    ],
)  # fmt: skip
def test_bad_dr_events_are_422_naming_the_field(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    resp = client.post("/api/dr-events", json=body)
    assert resp.status_code == 422
    assert any(field in d["loc"] for d in resp.json()["detail"]), resp.json()
    assert client.get("/api/dr-events").json() == []


def test_nothing_a_client_sends_breaks_the_loop(service: Service, client: TestClient) -> None:
    bad = [
        ("post", "/api/dr-events", b"{not json"),
        ("post", "/api/dr-events", b"[]"),
        ("post", "/api/alarms", b'{"message": "", "severity": "doom"}'),
        ("post", "/api/alarms/abc/ack", b"{}"),
        ("put", "/api/clock", b'{"speed": -1}'),
        ("put", "/api/clock", b'{"speed": "fast"}'),
        ("post", "/api/runs", b'{"scenario": "atlantis"}'),
        ("post", "/api/runs", b'{"scenario": "tiny", "strategy": "magic"}'),
        ("post", "/api/runs", b'{"scenario": "tiny", "days": 0.3}'),
        ("post", "/api/faults", b'{"kind": "coil_efficiency", "subject": "Z-9", "magnitude": 0.1}'),
        ("post", "/api/faults", b'{"kind": "meltdown", "subject": "A-0-000"}'),
        ("get", "/api/alarms?limit=0", None),
        ("get", "/api/runs/77", None),
    ]
    for method, url, content in bad:
        resp = client.request(method, url, content=content,
                              headers={"content-type": "application/json"})  # fmt: skip
        assert 400 <= resp.status_code < 500, (url, content, resp.status_code, resp.text)
    named = client.post("/api/runs", json={"scenario": "tiny", "strategy": "magic"}).json()
    assert named["detail"][0]["loc"] == ["body", "strategy"]
    assert "magic" in named["detail"][0]["msg"]
    assert service.loop.run_for(3600) == 240
    assert client.get("/api/health").json()["ok"]


def test_alarms_raise_list_acknowledge(client: TestClient) -> None:
    raised = client.post(
        "/api/alarms",
        json={"message": "smoke at km 5", "subject": "A-0-003", "severity": "critical"},
    ).json()
    assert raised["source"] == "operator"
    assert raised["active"]
    assert not raised["acknowledged"]
    assert [a["id"] for a in client.get("/api/alarms?acknowledged=false").json()] == [raised["id"]]
    acked = client.post(f"/api/alarms/{raised['id']}/ack", json={"by": "shift lead"}).json()
    assert acked["acknowledged"]
    assert acked["acknowledged_by"] == "shift lead"
    assert client.get("/api/alarms?acknowledged=false").json() == []
    assert client.post("/api/alarms/4242/ack").status_code == 404


def test_study_run_in_background(service: Service, client: TestClient) -> None:
    started = client.post("/api/runs", json={"scenario": "tiny", "days": 0.25, "seed": 3})
    assert started.status_code == 202
    run_id = started.json()["id"]
    deadline = time.monotonic() + 120
    while (status := client.get(f"/api/runs/{run_id}").json())["status"] not in {"done", "failed"}:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status["status"] == "done", status
    assert status["done_steps"] == status["total_steps"] == 24
    kpis = client.get(f"/api/runs/{run_id}/kpis").json()
    assert kpis["scenario"] == "tiny"
    assert kpis["seed"] == 3
    assert kpis["grid_import_kwh"] > 0
    report = client.get(f"/api/runs/{run_id}/report")
    assert report.status_code == 200
    assert "<html" in report.text.lower()
    ledger = client.get(f"/api/runs/{run_id}/ledger").json()
    assert ledger["verified"] is True
    assert ledger["records"] == kpis["ledger_records"] > 0
    # a vehicle that charged in the run's first hour gets its proof, checked on the spot
    import pandas as pd

    folder = Path(service.studies.get(run_id).out)
    passes = pd.read_parquet(folder / "passes.parquet")
    vehicle = int(passes.loc[passes["start_step"] < 3600, "vehicle_id"].iloc[0])
    got = client.get(f"/api/runs/{run_id}/ledger/proof", params={"vehicle": vehicle,
                     "period": "2035-04-02T00"})  # fmt: skip
    assert got.status_code == 200, got.text
    assert got.json()["proof"]["records"]
    missing = client.get(f"/api/runs/{run_id}/ledger/proof", params={"vehicle": 10**9,
                         "period": "2035-04-02T00"})  # fmt: skip
    assert missing.status_code in (200, 404)


def test_paced_loop_follows_the_clock(service: Service, client: TestClient) -> None:
    loop = service.loop
    loop.set_speed(600.0)  # ten scenario minutes per second
    wall0 = time.perf_counter()
    loop.start()
    time.sleep(1.0)
    t1 = client.get("/api/state").json()
    time.sleep(1.0)
    t2 = client.get("/api/state").json()
    wall = time.perf_counter() - wall0
    loop.stop()
    assert t1["running"]
    assert t2["ticks"] > t1["ticks"]
    # never ahead of the clock; behind by at most what a busy shared machine explains
    assert 0.5 * 600 * wall <= (t2["ticks"] + 1) * 15 <= 600 * wall + 15
    assert client.put("/api/clock", json={"speed": 120}).json()["speed"] == 120


def test_openapi_documents_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ["/api/state", "/api/plan", "/api/dr-events", "/api/alarms", "/api/runs"]:
        assert path in paths


def test_efficiency_fault_changes_the_twin(tiny: Scenario) -> None:
    loop = LiveLoop(tiny, days=1.0)
    loop.run_for(8 * 3600)
    seg = loop.layout.seg_ids[2]
    loop.inject_fault("coil_efficiency", seg, 0.2)
    assert loop.layout.seg_efficiency[2] == pytest.approx(0.88 * 0.8)
    assert np.all(loop.layout.seg_efficiency[[0, 1, 3]] == 0.88)


class Exploding(Strategy):
    """A researcher's strategy with a bug at 01:00."""

    name = "exploding"

    def decide(self, observation: Observation) -> Dispatch:
        if observation.step == 4:
            raise ZeroDivisionError("division by zero in my controller")
        lay = self.context.layout
        return Dispatch(lay.seg_rating_kw * 0.5, lay.sub_rating_kw * 0.5)


def test_a_failing_strategy_does_not_stop_the_road(tiny: Scenario) -> None:
    loop = LiveLoop(tiny, strategy="test_service_api:Exploding", days=1.0)
    loop.run_for(2 * 3600)
    (alarm,) = loop.alarms.list()
    assert alarm.kind == "strategy_error"
    assert "division by zero" in alarm.message
    assert alarm.sim_time.startswith("2035-04-02T01:00")
    assert loop.twin.step == 2 * 3600  # the loop went on, on the ratings for that step
    assert loop.decision is not None
    assert loop.decision.sub_limit_kw[0] == 600.0  # and back to the strategy after


class ShavesWithV2G(Strategy):
    """Batteries charge at night and discharge in the evening; V2G vehicles return power
    from 17:00 to 19:00; notes whether each step saw the previous step's measurements."""

    name = "shaves_with_v2g"

    def reset(self, context: RunContext) -> None:
        super().reset(context)
        self.saw_last: list[bool] = []

    def decide(self, observation: Observation) -> Dispatch:
        lay, k = self.context.layout, observation.step
        self.saw_last.append(observation.last is not None)
        storage = np.full(lay.n_substations, 200.0 if k < 24 else -150.0 if k >= 68 else 0.0)
        v2g = np.full(lay.n_segments, 100.0 if 68 <= k < 76 else 0.0)
        return Dispatch(lay.seg_rating_kw, lay.sub_rating_kw, storage_kw=storage, seg_v2g_kw=v2g)


def test_live_loop_honours_storage_and_v2g_set_points_as_the_runner(tiny: Scenario) -> None:
    """The live loop drives the runner's stepper: the strategy sees the last step, its
    battery and V2G set-points act, and live meters what batch meters."""
    loop = LiveLoop(tiny, strategy="test_service_api:ShavesWithV2G", days=1.0, tick_s=300.0)
    while loop.tick() is not None:
        pass
    assert loop.result is not None
    live, policy = loop.result.timeseries, loop.policy
    assert isinstance(policy, ShavesWithV2G)
    assert policy.saw_last == [False] + [True] * 95
    ref = run(tiny, ShavesWithV2G(), days=1.0).timeseries
    for column in ["road_power_kw", "v2g_discharge_kw", "storage_power_kw", "grid_import_kw"]:
        np.testing.assert_allclose(live[column], ref[column], rtol=1e-9, atol=1e-9)
    assert live["v2g_discharge_kw"].iloc[68:76].min() > 0  # the vehicles returned power
    assert live["storage_power_kw"].iloc[:24].max() > 0 > live["storage_power_kw"].iloc[68:].min()
    history = list(loop.history)
    assert sum(row["v2g_kw"] for row in history) == pytest.approx(ref["v2g_discharge_kw"].sum())
    assert [row["storage_kw"] for row in history] == pytest.approx(ref["storage_power_kw"])
