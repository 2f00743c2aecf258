"""The documentation cannot drift: the CLI reference is regenerated and compared,
and every relative link in the Markdown pages must lead to a file."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI_DOCS = REPO / "docs" / "cli.md"
SCRIPT = REPO / "scripts" / "cli-docs"
PAGES = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]

# Inline links and images, [text](target "title"); the target ends at white space.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")


def test_cli_reference_is_current(tmp_path: Path) -> None:
    fresh = tmp_path / "cli.md"
    subprocess.run(
        ["bash", str(SCRIPT), sys.executable, str(fresh)],
        check=True,
        capture_output=True,
        timeout=60,
    )

    committed = CLI_DOCS.read_text(encoding="utf-8") if CLI_DOCS.exists() else ""
    generated = fresh.read_text(encoding="utf-8")
    if committed != generated:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                "docs/cli.md (committed)",
                "docs/cli.md (generated)",
                n=1,
            )
        )
        pytest.fail(
            "docs/cli.md does not match the commands' help texts; run "
            f"`scripts/cli-docs` and commit docs/cli.md.\n{diff[:4000]}"
        )


def _links(text: str) -> list[str]:
    """Return the link targets of a Markdown text, leaving out code."""
    prose = _CODE.sub("", _FENCE.sub("", text))
    return _LINK.findall(prose) + _REFERENCE.findall(prose)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_lead_to_files(page: Path) -> None:
    broken = []
    for target in _links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http:, https:, mailto:
        path = unquote(target.partition("#")[0])
        if not path:
            continue  # a heading on the same page
        if not (page.parent / path).exists():
            broken.append(target)

    assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_link_finder_sees_links() -> None:
    text = (
        'See [the API](api.md#paging), ![x](img.png "t") and `[no](code.md)`.\n'
        "\n[ref]: daemon.md\n"
    )

    assert _links(text) == ["api.md#paging", "img.png", "daemon.md"]
