"""What the code and the docs cite is in the repository, and is there.

Comments, docstrings and docs point readers at ``docs/<name>.md`` and often at a passage in it:
``(docs/security.md, "Loose input")``. A cited file must exist, a cited passage must be one of its headings or the
bold lead of one of its paragraphs (``**The changes feed**``), and nothing may cite the documents the project was
briefed with, which are not in the repository.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CITED_FILE = re.compile(r"\bdocs/([\w.-]+\.md)\b")
# A passage: the file, then (after an optional comma) a quoted name that reads like a title.
CITED_PASSAGE = re.compile(r"\bdocs/([\w.-]+\.md),? \"([A-Z`][^\"(){}]{2,80})\"")
# The briefing documents, spelled in pieces so that this file does not cite them itself.
OUTSIDE = re.compile("|".join([r"\.\./" + "shared", "DESIGN" + r"\.md", "DESIGN" + " §", "TOOLING" + r"\.md"]))
# Line breaks, with the comment markers that continue a wrapped citation on the next line.
WRAP = re.compile(r"\s*\n\s*(?:#+:?\s*|//\s*)?")


@cache
def cited_in() -> tuple[Path, ...]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.yaml", "*.toml", "*.cfg", "Makefile", "*.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    this = Path(__file__).resolve()  # its own examples cite a passage that does not exist, on purpose
    return tuple(ROOT / name for name in listed if (ROOT / name).is_file() and (ROOT / name).resolve() != this)


def flowing_text(path: Path) -> str:
    return WRAP.sub(" ", path.read_text(encoding="utf-8"))


@cache
def passages(document: str) -> tuple[str, ...]:
    text = (ROOT / "docs" / document).read_text(encoding="utf-8")
    headings = [re.sub(r"^#+\s*(\d+\.\s*)?", "", line).strip() for line in text.splitlines() if line.startswith("#")]
    leads = re.findall(r"\*\*([^*]{3,80}?)\.?\*\*", text)
    return tuple(name.replace("`", "") for name in [*headings, *leads])


def test_every_cited_doc_exists() -> None:
    missing = {
        f"{path.relative_to(ROOT)}: docs/{name}"
        for path in cited_in()
        for name in CITED_FILE.findall(flowing_text(path))
        if not (ROOT / "docs" / name).is_file()
    }

    assert not missing


def test_every_cited_passage_is_a_heading_or_a_bold_lead_of_its_doc() -> None:
    dangling = {
        f'{path.relative_to(ROOT)}: docs/{name}, "{passage}"'
        for path in cited_in()
        for name, passage in CITED_PASSAGE.findall(flowing_text(path))
        if (ROOT / "docs" / name).is_file() and not any(passage.replace("`", "") in title for title in passages(name))
    }

    assert not dangling


def test_nothing_cites_the_briefing_documents() -> None:
    citing = {
        f"{path.relative_to(ROOT)}: {match.group()}"
        for path in cited_in()
        for match in OUTSIDE.finditer(path.read_text(encoding="utf-8"))
    }

    assert not citing


def test_a_dangling_passage_is_found() -> None:
    """The check itself: a wrapped citation of a passage that does not exist is caught, one that exists is not."""
    text = WRAP.sub(" ", '# see docs/security.md,\n# "Loose input" and docs/security.md, "No such passage"')

    found = CITED_PASSAGE.findall(text)

    assert found == [("security.md", "Loose input"), ("security.md", "No such passage")]
    assert [any(passage in title for title in passages(name)) for name, passage in found] == [True, False]
