"""The dashboard in headless Chromium: asks for the login, then loads clean, shows live
values, shows a raised alarm and acknowledges it in the user's name."""

from __future__ import annotations

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
from ersgrid.service.studies import Studies
from live_server import PASSWORDS, login, running_service, secure

SCREENSHOT = Path(__file__).resolve().parents[1] / "results" / "dashboard.png"

if not Path(CHROMIUM).exists() and not IN_CI:
    pytest.skip("Chromium not installed (apt-get install chromium)", allow_module_level=True)


def test_dashboard_live_in_chromium(tiny: Scenario, tmp_path: Path) -> None:
    loop = LiveLoop(tiny, days=1.0, speed=120.0)
    ledger = LiveLedger(loop, tmp_path / "ledger")  # writes the past hours while the page loads
    loop.run_for(7 * 3600)  # start in the morning rush, not in an empty night
    service = Service(
        loop=loop, studies=Studies(tmp_path / "runs"), stream_interval_s=0.25,
        extras={"ledger": ledger},
    )  # fmt: skip
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
        dr = {"start": "2035-04-02T20:00", "end": "2035-04-02T21:00", "import_limit_kw": 300}
        assert http.post("/api/dr-events", json=dr).status_code == 201
        page.wait_for_selector("#dr-list >> text=scheduled", timeout=30_000)
        page.wait_for_timeout(500)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        # logging out stops the feed and asks for the login again
        page.click("#logout")
        page.wait_for_selector("#login-dialog[open]")
        assert page.evaluate("sessionStorage.getItem('ersgrid-token')") is None
        http.close()
        browser.close()
    assert errors == []
    assert SCREENSHOT.stat().st_size > 10_000
