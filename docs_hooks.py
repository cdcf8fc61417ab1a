"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks``).

Two pages are made at build time from their one source, so the site cannot drift from them:

- ``scenario.md``: the scenario format, generated from the schema (``ersgrid scenario-doc``);
  the copy in ``docs/`` is replaced by a fresh rendering on every build.
- ``tutorial.md``: the tutorial script ``docs/tutorial.py`` (jupytext percent format, the file
  the tests execute) rendered as a page: its Markdown cells as text, its code cells as Python
  blocks. The script itself is published beside the page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jupytext
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

TUTORIAL_SCRIPT = "tutorial.py"
TUTORIAL_PAGE = "tutorial.md"
SCENARIO_PAGE = "scenario.md"


def tutorial_markdown(script: str) -> str:
    """The tutorial page: Markdown cells as they are, code cells as fenced Python blocks.

    Parameters
    ----------
    script : str
        The text of a jupytext percent-format script.

    Returns
    -------
    str
        The page's Markdown.
    """
    notebook = jupytext.reads(script, fmt="py:percent")
    parts = []
    for cell in notebook.cells:
        source = cell.source.strip("\n")
        if not source:
            continue
        if cell.cell_type == "markdown":
            parts.append(source)
        elif cell.cell_type == "code":
            parts.append(f"```python\n{source}\n```")
    return "\n\n".join(parts) + "\n"


def escape_brackets(markdown: str) -> str:
    """Escape ``[`` outside code spans, so a unit in brackets is never read as a link.

    Python-Markdown reads ``[-] [U]`` (a unit, then a source mark) as a reference link; the
    schema's descriptions carry units and marks in brackets and no links.

    Parameters
    ----------
    markdown : str
        Markdown whose square brackets are all literal text.

    Returns
    -------
    str
        The same text with ``[`` escaped outside `` `code` `` spans.
    """
    pieces = re.split(r"(`[^`]*`)", markdown)
    return "".join(p if p.startswith("`") else p.replace("[", "\\[") for p in pieces)


def on_files(files: Files, config: MkDocsConfig, **kwargs: Any) -> Files:
    """Add the tutorial page, rendered from its script."""
    script = Path(config.docs_dir) / TUTORIAL_SCRIPT
    page = tutorial_markdown(script.read_text(encoding="utf-8"))
    files.append(File.generated(config, TUTORIAL_PAGE, content=page))
    return files


def on_page_markdown(
    markdown: str, page: Page, config: MkDocsConfig, files: Files, **kwargs: Any
) -> str:
    """Render the scenario format from the schema instead of the checked-in copy."""
    if page.file.src_uri == SCENARIO_PAGE:
        from ersgrid.scenario.docs import schema_markdown

        return escape_brackets(schema_markdown())
    return markdown
