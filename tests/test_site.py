"""tools/build_site.py builds a page per lesson, with its figures, previous/next links and an index,
a page per exercise and the glossary, in the repository's layout, with MathJax served by the site:
twice, as two books, the English one at the site's root and the Chinese one (zh-CN/) under zh-CN/,
each page linked to its counterpart in the other book.

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
ZH = ROOT / "zh-CN"
BOOKS = {"en": "", "zh": "zh-CN/"}  # each edition's book, under the site's root
EDITION_LESSONS = [("en", p) for p in LESSONS] + [("zh", p) for p in build_site.lessons(ZH / "notebooks")]
EDITION_EXERCISES = [("en", p) for p in EXERCISES] + [
    ("zh", p) for p in build_site.exercises(ZH / "exercises" / "release")
]


def content(language: str) -> Path:
    return build_site.CONTENT[language]


def edition_id(case) -> str:
    return f"{case[0]}-{case[1].stem}"


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
        build_site.build_book(tmp_path / "out", [lesson], [], content=tmp_path / "book")


@pytest.mark.parametrize("case", EDITION_LESSONS, ids=edition_id)
def test_every_lesson_has_a_page_with_its_figures(site, case):
    language, path = case
    page = site / BOOKS[language] / "notebooks" / f"{path.stem}.html"
    assert page.exists(), f"no page for {path.name}"
    source = page.read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]*src="\.\./(_images/[^"]+\.png)"', source)
    assert len(images) >= figures_in(path), f"{path.name}: {len(images)} images on its page, {figures_in(path)} in it"
    assert all((site / image).exists() for image in images)
    title, _ = build_site.title_and_summary(path)
    assert title.split("·")[-1].strip().split()[0] in text_of(source)


@pytest.mark.parametrize("case", EDITION_EXERCISES, ids=edition_id)
def test_every_exercise_has_a_page(site, case):
    language, path = case
    page = site / BOOKS[language] / path.relative_to(content(language)).with_suffix(".html")
    assert page.exists(), f"no page for {path.relative_to(ROOT)}"
    title, _ = build_site.title_and_summary(path)
    assert title.split("·")[-1].split()[0] in text_of(page.read_text(encoding="utf-8"))  # quotes become curly


@pytest.mark.parametrize("language", BOOKS)
def test_pages_link_to_previous_and_next(site, language):
    lessons = [p for lang, p in EDITION_LESSONS if lang == language]
    folder = site / BOOKS[language] / "notebooks"
    assert len(lessons) >= 7
    for before, after in zip(lessons, lessons[1:]):
        assert f'href="{after.stem}.html"' in (folder / f"{before.stem}.html").read_text(encoding="utf-8")
        assert f'href="{before.stem}.html"' in (folder / f"{after.stem}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("language", BOOKS)
def test_index_links_every_lesson_with_its_summary(site, language):
    index = (site / BOOKS[language] / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", index, flags=re.S)
    for path in (p for lang, p in EDITION_LESSONS if lang == language):
        row = next((r for r in rows if f'href="notebooks/{path.stem}.html"' in r), None)
        assert row is not None, f"the index does not link {path.name}"
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        _, summary = build_site.title_and_summary(path)
        assert summary[-1] in ".?!。？！", f"{path.name}: the summary is not a whole sentence: {summary!r}"
        first_words = re.sub(r"[*_`$]", "", summary).split()[:3]
        if language == "zh":  # no spaces between Chinese words: the first characters
            first_words = [re.sub(r"[*_`$]", "", summary)[:6]]
        assert len(cells) == 2 and text_of(cells[1]).startswith(" ".join(first_words)), text_of(row)
    for path in (p for lang, p in EDITION_EXERCISES if lang == language):
        assert f'href="{path.relative_to(content(language)).with_suffix(".html").as_posix()}"' in index, (
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
        book = site / "zh-CN" if page.relative_to(site).parts[0] == "zh-CN" else site  # each book serves its own
        for src in re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', source):
            assert (page.parent / src).resolve() == (book / "_static" / "mathjax" / "tex-chtml.js").resolve(), src
            with_math += 1
    assert with_math >= len(EDITION_LESSONS), "fewer pages load MathJax than there are lessons"


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
    pages = [p for language in BOOKS for ps in build_site.markdown_pages(content(language)).values() for p in ps]
    assert ROOT / "GLOSSARY.md" in pages and ZH / "GLOSSARY.md" in pages
    sources = {p: p.read_text(encoding="utf-8") for p in pages}
    for path in [p for _, p in EDITION_LESSONS + EDITION_EXERCISES]:
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


@pytest.mark.parametrize("language", BOOKS)
def test_every_markdown_page_has_a_page(site, language):
    """The glossary, the teacher's guide and each Try-this solution are pages of each book."""
    for path in (p for ps in build_site.markdown_pages(content(language)).values() for p in ps):
        page = site / BOOKS[language] / path.relative_to(content(language)).with_suffix(".html")
        assert page.is_file(), page


@pytest.mark.parametrize("language", BOOKS)
def test_glossary_page_links_to_the_lesson_pages(site, language):
    page = (site / BOOKS[language] / "GLOSSARY.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'href="notebooks/(\d\d_\w+)\.html"', page))
    assert linked and linked <= {p.stem for lang, p in EDITION_LESSONS if lang == language}


COUNTERPARTS = [
    page
    for page in [
        "index.md",
        *(f"notebooks/{p.name}" for p in LESSONS),
        *(p.relative_to(ROOT).as_posix() for p in EXERCISES),
    ]
    if (ZH / page).exists() or page == "index.md"
] + [
    p.relative_to(ROOT).as_posix()
    for ps in build_site.markdown_pages().values()
    for p in ps
    if (ZH / p.relative_to(ROOT)).exists()
]


@pytest.mark.parametrize("page", COUNTERPARTS)
def test_each_page_links_to_the_same_page_in_the_other_edition(site, page):
    """Under its title, a page of one book links to the same page of the other (English <-> 中文版)."""
    for language, (other, _) in build_site.OTHER.items():
        here = site / BOOKS[language] / Path(page).with_suffix(".html")
        links = re.findall(r'<p class="edition-link"><a[^>]*href="([^"]+)"', here.read_text(encoding="utf-8"))
        assert len(links) == 1, f"{here.relative_to(site)}: {len(links)} links to the other edition"
        assert (here.parent / links[0]).resolve() == (site / BOOKS[other] / Path(page).with_suffix(".html")).resolve()


def test_the_two_books_are_separate_sphinx_projects_in_their_languages(site):
    """Each book has its own search index and table of contents (so no label is defined twice), and the
    Chinese book declares its language, so the theme's words (search, contents) are Chinese."""
    assert (site / "searchindex.js").is_file() and (site / "zh-CN" / "searchindex.js").is_file()
    english, chinese = (
        (site / "index.html").read_text(encoding="utf-8"),
        (site / "zh-CN" / "index.html").read_text(encoding="utf-8"),
    )
    assert '<html lang="en"' in english and '<html lang="zh-CN"' in chinese
    assert "动手学批量归一化" in text_of(chinese) and "Batch Normalization, hands-on" in text_of(english)
    assert len(COUNTERPARTS) >= 1 + len(LESSONS)  # the index and every lesson have both editions
