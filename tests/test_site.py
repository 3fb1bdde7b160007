"""tools/build_site.py builds a page per lesson, with its figures, previous/next links and an index.

The lessons are discovered (every notebooks/NN_*.ipynb present), so a new lesson is checked too.
"""

import html
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402

LESSONS = build_site.lessons()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site.build(tmp_path_factory.mktemp("site"))


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def figures_in(path: Path) -> int:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum("image/png" in out.get("data", {}) for c in cells if c["cell_type"] == "code" for out in c["outputs"])


def test_lessons_are_discovered():
    names = [p.name for p in LESSONS]
    assert names == sorted(names) and names[0] == "00_start_here.ipynb" and len(names) >= 7


def test_summary_is_the_first_heading_and_sentence(tmp_path):
    notebook = {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": [
                    "# 42 · A title\n",
                    "\n",
                    "First sentence, on\n",
                    "two lines. Second sentence.\n",
                    "\n",
                    "More.\n",
                ],
            }
        ]
    }
    path = tmp_path / "42_x.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert build_site.title_and_summary(path) == ("42 · A title", "First sentence, on two lines.")
    notebook["cells"][0]["source"] = ["No heading\n"]
    path.write_text(json.dumps(notebook), encoding="utf-8")
    with pytest.raises(ValueError, match="must start with a heading"):
        build_site.title_and_summary(path)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_has_a_page_with_its_figures(site, path):
    page = site / f"{path.stem}.html"
    assert page.exists(), f"no page for {path.name}"
    source = page.read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]*src="(_images/[^"]+\.png)"', source)
    assert len(images) >= figures_in(path), f"{path.name}: {len(images)} images on its page, {figures_in(path)} in it"
    assert all((site / image).exists() for image in images)
    title, _ = build_site.title_and_summary(path)
    assert title.split("·")[-1].strip().split()[0] in text_of(source)


def test_pages_link_to_previous_and_next(site):
    for before, after in zip(LESSONS, LESSONS[1:]):
        assert f'href="{after.stem}.html"' in (site / f"{before.stem}.html").read_text(encoding="utf-8")
        assert f'href="{before.stem}.html"' in (site / f"{after.stem}.html").read_text(encoding="utf-8")


def test_index_links_every_lesson_with_its_summary(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", index, flags=re.S)
    for path in LESSONS:
        row = next((r for r in rows if f'href="{path.stem}.html"' in r), None)
        assert row is not None, f"the index does not link {path.name}"
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        _, summary = build_site.title_and_summary(path)
        first_words = re.sub(r"[*_`$]", "", summary).split()[:3]
        assert len(cells) == 2 and text_of(cells[1]).startswith(" ".join(first_words)), text_of(row)


def test_math_is_rendered_by_mathjax(site):
    page = (site / f"{LESSONS[-1].stem}.html").read_text(encoding="utf-8")
    assert "mathjax" in page.lower() and r"\(" in page


def test_glossary_page_links_to_the_lesson_pages(site):
    if not (ROOT / "GLOSSARY.md").exists():
        pytest.skip("no GLOSSARY.md")
    page = (site / "glossary.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'href="(\d\d_\w+)\.html"', page))
    assert linked and linked <= {p.stem for p in LESSONS}
