"""A run report and a compare report of tiny in headless Chromium: no console error, every
plot drawn with data, a screenshot of each kept (``results/report-*.png``, ignored by git)."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser import HAVE_CHROMIUM, chromium_page, plots_of
from conftest import IN_CI
from ersgrid.report.html import report_sections, write_report
from ersgrid.run import run
from ersgrid.run.runner import RunResult

if not HAVE_CHROMIUM and not IN_CI:
    pytest.skip("Chromium not installed (make browser)", allow_module_level=True)

SHOTS = Path(__file__).resolve().parents[1] / "results"


@pytest.fixture(scope="module")
def runs() -> list[RunResult]:
    """tiny for half a day: the baseline and a strategy that uses the storage."""
    return [run("tiny", name, days=0.5) for name in ("uncontrolled", "tou")]


@pytest.mark.parametrize("kind", ["run", "compare"])
def test_report_in_chromium(runs: list[RunResult], kind: str, tmp_path: Path) -> None:
    shown = runs[:1] if kind == "run" else runs
    path = write_report(shown, tmp_path / "report.html")
    sections = report_sections(shown)
    expected = sum(len(s.figures) for s in sections)
    with chromium_page(tmp_path / "profile") as (page, errors):
        page.goto(path.as_uri())
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot .main-svg').length > 0 && "
            "Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".every(gd => gd._fullData !== undefined)"
        )
        plots = plots_of(page)
        assert len(plots) == expected
        for plot in plots:
            assert plot["traces"] > 0, plot
            # every trace holds finite values on its value axis
            assert all(n > 0 for n in plot["finite"]), plot
        ids = {p["section"] for p in plots}
        assert {"cost-breakdown", "dispatch-stack", "stationary-storage"} <= ids
        if kind == "compare":
            assert "differences-against-uncontrolled" in ids
        for s in sections:
            assert page.locator(f"section#{s.title.lower().replace(' ', '-')} p.read").count() == 1
        assert not errors, errors
        shot = tmp_path / f"report-{kind}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"report-{kind}.png"), full_page=True)
