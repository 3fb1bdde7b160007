"""tools/build_site.py builds a page per lesson, with its figures, previous/next links and an index,
a page per exercise and the glossary, in the repository's layout, with MathJax served by the site.

The lessons and exercises are discovered (every notebooks/NN_*.ipynb and exercises/release/<ex>/<ex>.ipynb
present), so a new one is checked too. What a browser makes of the pages (math typeset, images
loaded, links followed, nothing fetched from outside) is tests/test_browser_site.py.
"""

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

import browser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402

LESSONS = build_site.lessons()
EXERCISES = build_site.exercises()


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def figures_in(path: Path) -> int:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum("image/png" in out.get("data", {}) for c in cells if c["cell_type"] == "code" for out in c["outputs"])


def markdown_links(text: str) -> list[str]:
    """The targets of the markdown links ``[text](target)`` in ``text``."""
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_lessons_and_exercises_are_discovered():
    names = [p.name for p in LESSONS]
    assert names == sorted(names) and names[0] == "00_start_here.ipynb" and len(names) >= 7
    assert [p.parent.name for p in EXERCISES] == sorted(p.name for p in (ROOT / "exercises" / "release").iterdir())


def write_first_cell(path: Path, lines: list[str]) -> Path:
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": lines}]}
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def test_summary_is_the_first_heading_and_sentence(tmp_path):
    path = write_first_cell(
        tmp_path / "42_x.ipynb",
        ["# 42 · A title\n", "\n", "First sentence, on\n", "two lines. Second sentence.\n", "\n", "More.\n"],
    )
    assert build_site.title_and_summary(path) == ("42 · A title", "First sentence, on two lines.")
    write_first_cell(path, ["No heading\n"])
    with pytest.raises(ValueError, match="must start with a heading"):
        build_site.title_and_summary(path)
    write_first_cell(path, ["# 42 · A title\n", "\n", "A lead-in to a list:\n", "\n", "1. An item.\n"])
    with pytest.raises(
        ValueError, match="42_x.ipynb: the paragraph under the heading must start with a whole sentence"
    ):
        build_site.title_and_summary(path)


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("It computes this: a mean and a variance. Then more.", "It computes this: a mean and a variance."),
        ("Two halves; both tested. Next.", "Two halves; both tested."),
        ("Why is a deep network harder to train? It is.", "Why is a deep network harder to train?"),
        ("It works, e.g. on digits, i.e. 8x8 images. Next.", "It works, e.g. on digits, i.e. 8x8 images."),
        ("Santurkar et al. tested it. Next.", "Santurkar et al. tested it."),
        ("It is real. Next.", "It is real."),  # 'real.' is no abbreviation ('al.')
        ("Scale $a. b$ and `x. y` stay inside! Next.", "Scale $a. b$ and `x. y` stay inside!"),
        ("Version 1.5 of it. Next.", "Version 1.5 of it."),
        ("Ends here.", "Ends here."),
    ],
)
def test_first_sentence_ends_at_a_full_stop_not_at_a_colon(text, sentence):
    assert build_site.first_sentence(text) == sentence


def test_first_sentence_names_a_paragraph_without_one():
    with pytest.raises(ValueError, match="no whole sentence .* in: 'A lead-in: one; two:'"):
        build_site.first_sentence("A lead-in: one; two:")


def test_the_build_names_the_missing_mathjax_package(tmp_path, monkeypatch):
    monkeypatch.setattr(build_site, "MATHJAX_EXTENSION", "no-such-mathjax-package")
    with pytest.raises(RuntimeError, match="from the no-such-mathjax-package package, which is not installed"):
        build_site.build(tmp_path)


def test_a_sphinx_warning_fails_the_build(tmp_path):
    """A dead link (Sphinx warns: myst.xref_missing) stops the build instead of passing with a warning."""
    lesson = tmp_path / "book" / "notebooks" / "00_x.ipynb"
    lesson.parent.mkdir(parents=True)
    write_first_cell(lesson, ["# 00 · A title\n", "\n", "A sentence with a [dead link](../MISSING.md).\n"])
    notebook = json.loads(lesson.read_text(encoding="utf-8"))
    notebook.update(metadata={}, nbformat=4, nbformat_minor=5)
    notebook["cells"][0]["id"] = "a-title"
    lesson.write_text(json.dumps(notebook), encoding="utf-8")
    with pytest.raises(subprocess.CalledProcessError):
        build_site.build(tmp_path / "out", [lesson], [], content=tmp_path / "book")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_has_a_page_with_its_figures(site, path):
    page = site / "notebooks" / f"{path.stem}.html"
    assert page.exists(), f"no page for {path.name}"
    source = page.read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]*src="\.\./(_images/[^"]+\.png)"', source)
    assert len(images) >= figures_in(path), f"{path.name}: {len(images)} images on its page, {figures_in(path)} in it"
    assert all((site / image).exists() for image in images)
    title, _ = build_site.title_and_summary(path)
    assert title.split("·")[-1].strip().split()[0] in text_of(source)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_every_exercise_has_a_page(site, path):
    page = site / path.relative_to(ROOT).with_suffix(".html")
    assert page.exists(), f"no page for {path.relative_to(ROOT)}"
    title, _ = build_site.title_and_summary(path)
    assert title.split("·")[-1].split()[0] in text_of(page.read_text(encoding="utf-8"))  # quotes become curly


def test_pages_link_to_previous_and_next(site):
    for before, after in zip(LESSONS, LESSONS[1:]):
        assert f'href="{after.stem}.html"' in (site / "notebooks" / f"{before.stem}.html").read_text(encoding="utf-8")
        assert f'href="{before.stem}.html"' in (site / "notebooks" / f"{after.stem}.html").read_text(encoding="utf-8")


def test_index_links_every_lesson_with_its_summary(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", index, flags=re.S)
    for path in LESSONS:
        row = next((r for r in rows if f'href="notebooks/{path.stem}.html"' in r), None)
        assert row is not None, f"the index does not link {path.name}"
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        _, summary = build_site.title_and_summary(path)
        assert summary[-1] in ".?!", f"{path.name}: the summary is not a whole sentence: {summary!r}"
        first_words = re.sub(r"[*_`$]", "", summary).split()[:3]
        assert len(cells) == 2 and text_of(cells[1]).startswith(" ".join(first_words)), text_of(row)
    for path in EXERCISES:
        assert f'href="{path.relative_to(ROOT).with_suffix(".html").as_posix()}"' in index, (
            f"the index omits {path.name}"
        )


def html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


def test_every_page_takes_mathjax_from_the_site_and_nothing_from_other_hosts(site):
    fonts = list((site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists() and len(fonts) >= 20
    with_math = 0
    for page in html_pages(site):
        source = page.read_text(encoding="utf-8")
        fetched = re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="((?:https?:)?//[^"]+)"', source)
        assert not fetched, f"{page.relative_to(site)} fetches from other hosts: {fetched}"
        for src in re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', source):
            assert (page.parent / src).resolve() == (site / "_static" / "mathjax" / "tex-chtml.js").resolve(), src
            with_math += 1
    assert with_math >= len(LESSONS), "fewer pages load MathJax than there are lessons"


def test_no_page_declares_thebe(site):
    for page in html_pages(site):
        assert "THEBE_JS_URL" not in page.read_text(encoding="utf-8"), page.relative_to(site)


def test_every_local_link_of_every_page_resolves(site):
    dead, anchors = [], {}
    for page in html_pages(site):
        for href in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', page.read_text(encoding="utf-8")):
            if urlsplit(href).scheme or href.startswith("//"):
                continue  # another site (the sources' papers): not fetched by the site
            path, fragment = urldefrag(html.unescape(href))
            target = (page.parent / unquote(path)).resolve() if path else page.resolve()
            if not target.is_file():
                dead.append(f"{page.relative_to(site)}: {href}")
                continue
            if target not in anchors:
                anchors[target] = browser.anchors(target.read_text(encoding="utf-8"))
            if fragment and unquote(fragment) not in anchors[target]:
                dead.append(f"{page.relative_to(site)}: {href} (no such anchor)")
    assert not dead, dead


def test_relative_links_in_the_notebooks_and_the_pages_point_to_files():
    """The same links work in JupyterLab started at the repository root: every relative link in a
    lesson, an exercise or a Markdown page of the site (the glossary, the teacher's guide, the
    Try-this solutions) names a file of the repository, relative to the linking file."""
    pages = [p for ps in build_site.markdown_pages().values() for p in ps]
    assert ROOT / "GLOSSARY.md" in pages
    sources = {p: p.read_text(encoding="utf-8") for p in pages}
    for path in [*LESSONS, *EXERCISES]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        sources[path] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    checked, dead = 0, []
    for path, text in sources.items():
        for link in markdown_links(text):
            if urlsplit(link).scheme or link.startswith("#"):
                continue
            target = (path.parent / urldefrag(link)[0]).resolve()
            checked += 1
            if not (target.is_file() and target.is_relative_to(ROOT)):
                dead.append(f"{path.relative_to(ROOT)}: {link}")
    assert checked >= 20 and not dead, dead


def test_every_markdown_page_has_a_page(site):
    """The glossary, the teacher's guide and each Try-this solution are pages of the site."""
    for path in (p for ps in build_site.markdown_pages().values() for p in ps):
        page = site / path.relative_to(ROOT).with_suffix(".html")
        assert page.is_file(), page


def test_glossary_page_links_to_the_lesson_pages(site):
    page = (site / "GLOSSARY.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'href="notebooks/(\d\d_\w+)\.html"', page))
    assert linked and linked <= {p.stem for p in LESSONS}
