"""The dashboard in headless Chromium as a real operator's session: asks for the login, then
loads clean, shows live values; the operator creates a DR event, overrides a substation's
import limit and sees the road keep it, switches the strategy, acknowledges an alarm, reads
the history from the store and downloads it as CSV; a viewer's page has no write controls."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from playwright import sync_api as playwright

from browser import CHROMIUM, FLAGS
from conftest import IN_CI
from ersgrid.scenario.schema import Scenario
from ersgrid.service.app import Service
from ersgrid.service.ledger import LiveLedger
from ersgrid.service.live import LiveLoop
from ersgrid.service.storage import Store
from ersgrid.service.studies import Studies
from live_server import PASSWORDS, login, running_service, secure

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
"""Screenshots and the downloaded CSV of the page tests (git-ignored)."""

if not Path(CHROMIUM).exists() and not IN_CI:
    pytest.skip("Chromium not installed (apt-get install chromium)", allow_module_level=True)


def test_dashboard_live_in_chromium(tiny: Scenario, tmp_path: Path) -> None:
    loop = LiveLoop(tiny, days=1.0, speed=120.0)
    ledger = LiveLedger(loop, tmp_path / "ledger")  # writes the past hours while the page loads
    store = Store(f"sqlite:///{tmp_path / 'ersgrid.db'}")
    store.attach(loop)  # trends from the first tick
    loop.run_for(7 * 3600)  # start in the morning rush, not in an empty night
    service = Service(
        loop=loop, studies=Studies(tmp_path / "runs"), stream_interval_s=0.25,
        extras={"ledger": ledger, "storage": store},
    )  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    secure(service, tmp_path)
    errors: list[str] = []
    with running_service(service) as url, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1100},
        )
        page = browser.new_page()
        page.set_default_timeout(60_000)  # a busy shared machine parses plotly.js slowly
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        # the page asks for the login first; the operator logs in
        page.wait_for_selector("#login-dialog[open]")
        assert page.text_content("#link") == "logged out"
        page.fill("#login-user", "operator")
        page.fill("#login-password", PASSWORDS["operator"])
        page.click("#login-submit")
        page.wait_for_function("document.getElementById('user').textContent === "
                               "'operator (operator)'")  # fmt: skip
        assert page.evaluate("sessionStorage.getItem('ersgrid-token')").count(".") == 2  # a JWT
        http = httpx.Client(base_url=url)
        http.headers.update(login(http, "operator"))
        page.wait_for_function("document.getElementById('sim-time').textContent.startsWith('20')")
        page.wait_for_function("document.querySelectorAll('#map .point').length > 0")
        first = page.text_content("#sim-time")
        page.wait_for_function(
            f"document.getElementById('sim-time').textContent !== {first!r}", timeout=30_000
        )
        second = page.text_content("#sim-time")
        assert second is not None
        assert first is not None
        assert second > first
        assert page.text_content("#link") == "live"
        road = page.text_content("#road-kw")
        assert road not in (None, "–")
        # system frequency and the traffic forecast against what entered
        frequency = float(page.text_content("#frequency") or "nan")
        assert abs(frequency - 50.0) < 0.01
        assert " of " in (page.text_content("#traffic") or "")
        assert page.locator("#traffic-plot .bars .point").count() > 0  # actual per step
        assert page.locator("#traffic-plot .scatterlayer .trace").count() == 1  # forecast
        # the ledger of the hours already over: anchored and verified
        page.wait_for_function(  # exact text: "not yet verified" contains "verified"
            "document.getElementById('ledger-verified').textContent === 'verified'",
            timeout=60_000,
        )
        assert page.text_content("#ledger-verified") == "verified"
        ledger_text = page.text_content("#ledger-table") or ""
        assert "in chain block" in ledger_text
        assert "0x" in ledger_text
        assert "(balanced)" in ledger_text  # the settled hours' money sums to zero
        assert ledger.status()["periods_settled"] >= 1  # more follow as the hours close
        resp = http.post(
            "/api/alarms",
            json={"message": "cable theft suspected near km 4", "subject": "A-0-002",
                  "severity": "critical"},
        )  # fmt: skip
        assert resp.status_code == 201
        page.wait_for_selector(
            "#alarm-list tr.critical >> text=cable theft suspected", timeout=30_000
        )
        # the operator acknowledges it (its own row: the loop may raise other alarms meanwhile)
        page.click("#alarm-list tr.critical:has-text('cable theft suspected') button")
        page.wait_for_selector("#alarm-list tr.acked >> text=cable theft suspected")
        (theft,) = [a for a in http.get("/api/alarms").json()
                    if a["message"].startswith("cable theft suspected")]  # fmt: skip
        assert theft["acknowledged_by"] == "operator"  # in the name of the user logged in
        # the adapters and the ledger in words, the raw JSON one click away
        summary = page.text_content("#adapter-summary") or ""
        for words in ("Ledger: ", "periods settled", "Store (sqlite): ", "no write errors"):
            assert words in summary
        assert "MQTT: not configured" in summary
        # the words for a broker's counters (the bridge's status() fields)
        words = page.evaluate("""adapterSentences({mqtt: {connected: true, devices: 1000,
            segments: 1000, stale: ["A-1-001", "B-2-007"], last_message_s_ago: 2,
            accepted: 123456, rejected: {malformed: 2, schema: 1}, broker: "b:1883"},
            ocpp: {connected: 3, stations: 4, last_message: "2026-01-05T10:00:00Z"}})""")
        assert words[0] == (
            "MQTT: 998 of 1,000 segments reporting, last message 2 s ago; "
            "123,456 messages accepted, 3 rejected; silent: A-1-001, B-2-007"
        )
        assert words[1] == ("OCPP: 3 of 4 charging stations connected, last message at "
                            "2026-01-05 10:00:00 UTC")  # fmt: skip
        assert not page.is_visible("#adapters")
        page.click("#adapters-details summary")
        assert "telemetry_rows_written" in (page.text_content("#adapters") or "")
        assert "periods settled" in (page.text_content("#ledger-summary") or "")

        # a DR event from the form: from now for three hours (an hour passes in 30 s here)
        now = dt.datetime.fromisoformat(page.text_content("#sim-time") or "")
        start, end = (f"{t:%Y-%m-%dT%H:%M}" for t in (now, now + dt.timedelta(hours=3)))
        page.fill("#dr-start", start)
        page.fill("#dr-end", end)
        page.fill("#dr-limit", "400")
        page.fill("#dr-reason", "TSO request")
        page.click("#dr-create")
        page.wait_for_selector("#dr-list >> text=active", timeout=30_000)
        assert "DR event 1 active" in (page.text_content("#op-message") or "")
        # a limit override tighter than the DR cap: the cap the twin keeps is the override
        page.select_option("#ov-sub", "SS-Test")
        page.fill("#ov-start", start)
        page.fill("#ov-end", end)
        page.fill("#ov-limit", "200")
        page.click("#ov-create")
        row = "#sub-rows tr[data-sub='SS-Test']"
        page.wait_for_function(
            f"document.querySelector(\"{row} td.cap\").textContent === '200'", timeout=30_000
        )
        assert page.text_content(f"{row} td.dr-cap") == "400"
        assert page.text_content(f"{row} td.override") == "200"
        capped_at = page.text_content("#sim-time") or ""
        seen: list[float] = []
        # later ticks: the substation stays under the cap, and (the vehicles on its segments
        # come and go from tick to tick) within some ticks its demand reaches the cap
        while len(seen) < 3 or (max(seen) <= 150.0 and len(seen) < 30):
            page.wait_for_function(
                f"document.getElementById('sim-time').textContent > {capped_at!r}",
                timeout=30_000,
            )
            capped_at = page.text_content("#sim-time") or ""
            seen.append(float((page.text_content(f"{row} td.import") or "nan").replace(",", "")))
        assert max(seen) <= 200.0 + 0.05, seen  # shown to 0.1 kW
        assert max(seen) > 150.0, seen  # the morning's demand is there: the cap binds
        assert page.text_content("#violations") == "none"
        page.wait_for_selector("#override-list >> text=active")
        # the strategy switches at the next 15-min step
        page.select_option("#strategy-select", "tou")
        page.click("#strategy-switch")
        page.wait_for_selector("#strategy-pending >> text=switching to tou")
        page.wait_for_function(
            "document.getElementById('strategy-now').textContent === 'tou'", timeout=30_000
        )
        assert "uncontrolled → tou" in (page.text_content("#strategy-pending") or "")
        assert http.get("/api/plan").json()["strategy"] == "tou"
        page.screenshot(path=str(ARTIFACTS / "dashboard-operator.png"), full_page=True)

        # the history from the store over a range, and its CSV
        page.fill("#trend-start", "2035-04-02T06:00")
        page.fill("#trend-end", "2035-04-02T07:00")
        page.click("#trend-show")
        page.wait_for_selector("#trend-info >> text=2035-04-02T06:00 to 2035-04-02T06:59")
        assert page.locator("#trend-plot .scatterlayer .trace").count() >= 3
        with page.expect_download() as download:
            page.click("#trend-csv")
        csv_path = ARTIFACTS / "dashboard-trends.csv"
        download.value.save_as(csv_path)
        lines = csv_path.read_text().splitlines()
        assert lines[0].startswith("time,substation,road_kw,")
        assert len(lines) == 1 + 240  # an hour of 15 s ticks of one substation
        assert lines[1].startswith("2035-04-02T06:00:00+09:00,SS-Test,")  # a tick's end
        page.locator("#trend-plot").screenshot(path=str(ARTIFACTS / "dashboard-history.png"))

        # logging out stops the feed and asks for the login again
        page.click("#logout")
        page.wait_for_selector("#login-dialog[open]")
        assert page.evaluate("sessionStorage.getItem('ersgrid-token')") is None
        # a viewer sees the same values and no write control
        page.fill("#login-user", "viewer")
        page.fill("#login-password", PASSWORDS["viewer"])
        page.click("#login-submit")
        page.wait_for_function("document.getElementById('user').textContent === "
                               "'viewer (viewer)'")  # fmt: skip
        page.wait_for_selector("#dr-list >> text=active")
        page.wait_for_selector("#alarm-list tr")
        assert not page.is_visible("#controls")
        assert page.locator("button.op").count() == page.locator("button.op:disabled").count()
        assert page.locator("button.op:visible").count() == 0
        tables = "#alarm-list button, #dr-list button, #override-list button"
        assert page.locator(tables).count() == 0
        assert page.text_content("#sub-rows tr td.cap") not in (None, "")
        page.screenshot(path=str(ARTIFACTS / "dashboard-viewer.png"), full_page=True)
        http.close()
        browser.close()
    assert errors == []
    for name in ("operator", "history", "viewer"):
        assert (ARTIFACTS / f"dashboard-{name}.png").stat().st_size > 10_000
