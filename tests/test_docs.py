"""The documentation: the tutorial runs, the API reference covers the public API, the site's
build is strict, and the licence and citation files agree with the package."""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import ersgrid

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_citation_and_license_agree_with_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert {"cff-version", "message", "title", "authors", "version", "license"} <= set(citation)
    assert str(citation["version"]) == project["version"] == ersgrid.__version__
    assert citation["license"] == project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text


def test_api_reference_covers_the_public_api() -> None:
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: ersgrid\.(?:run\.)?(\w+)$", page, flags=re.MULTILINE))
    public = set(ersgrid.__all__) - {"__version__"}
    assert documented == public


def test_scenario_reference_brackets_are_text_not_links() -> None:
    escape = _hooks().escape_brackets
    assert escape("share [-] [U], default `[1, 2]`") == "share \\[-] \\[U], default `[1, 2]`"


def test_tutorial_page_has_every_cell_of_the_script() -> None:
    import jupytext

    script = (DOCS / "tutorial.py").read_text(encoding="utf-8")
    page = _hooks().tutorial_markdown(script)
    cells = jupytext.reads(script, fmt="py:percent").cells
    code = [c.source.strip() for c in cells if c.cell_type == "code"]
    assert page.startswith("# Tutorial: model your own corridor in 30 minutes\n")
    assert page.count("```python\n") == len(code) > 5
    for source in code:
        assert f"```python\n{source}\n```" in page


@pytest.mark.slow
def test_tutorial_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tutorial script runs as a reader runs it; its own asserts check what its text
    claims (the energy balance, the oracle's lower peak with the same energy)."""
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(DOCS / "tutorial.py"), run_name="__main__")
    scenario = ersgrid.load_scenario(tmp_path / "my.yaml")
    assert scenario.name == "my-corridor"
    folder = tmp_path / "results" / "my-corridor"
    for name in ("kpis.json", "timeseries.parquet", "trips.parquet", "report.html"):
        assert (folder / name).is_file(), name


@pytest.mark.slow
def test_strict_build_fails_on_a_broken_link_and_a_missing_reference(tmp_path: Path) -> None:
    """The site's own settings, on two pages: one with a link to a page that does not exist,
    one with an API reference to a name ersgrid does not have (beside one it has)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [the missing page](missing.md).\n")
    (docs / "api.md").write_text("# API\n\n::: ersgrid.load_scenario\n\n::: ersgrid.no_such_name\n")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    config.update(docs_dir=str(docs), site_dir=str(tmp_path / "site"), hooks=[])
    config["nav"] = ["index.md", "api.md"]
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT / "src")]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert built.returncode != 0
    assert "missing.md" in built.stderr
    assert "ersgrid.no_such_name" in built.stderr
    assert "ersgrid.load_scenario" not in built.stderr
    assert not (tmp_path / "site" / "index.html").exists()
