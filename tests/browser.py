"""Headless Chromium for the page tests (Debian's Chromium driven by playwright-core)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright import sync_api as playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
HAVE_CHROMIUM = Path(CHROMIUM).exists()

PLOTS_JS = """() => {
const flat = v => ArrayBuffer.isView(v) ? Array.from(v)
  : Array.isArray(v) ? v.flatMap(flat) : [v];
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
  const values = [];
  for (const t of gd._fullData) {  // decoded: gd.data may hold base64 typed arrays
    const key = t.type === 'heatmap' ? 'z' : (t.type === 'histogram' || t.orientation === 'h')
      ? 'x' : 'y';
    const numbers = flat(t[key] === undefined ? [] : t[key]);
    values.push(numbers.filter(v => typeof v === 'number' && Number.isFinite(v)).length);
  }
  const title = gd.layout && gd.layout.title && gd.layout.title.text || '';
  return {title: title, traces: gd.data.length, finite: values,
          section: gd.closest('section') ? gd.closest('section').id : ''};
});
}"""
"""Each plot of the page: its title, section, number of traces and finite values per trace."""


@contextmanager
def chromium_page(
    profile: Path, width: int = 1300, height: int = 1000
) -> Iterator[tuple[playwright.Page, list[str]]]:
    """A fresh headless Chromium page and the console errors and page errors it logs."""
    errors: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(profile),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": height},
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)  # a busy shared machine parses plotly.js slowly
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            browser.close()


def plots_of(page: playwright.Page) -> list[dict[str, Any]]:
    """Every plotly plot on ``page`` (see :data:`PLOTS_JS`)."""
    plots: list[dict[str, Any]] = page.evaluate(PLOTS_JS)
    return plots
