"""Build the series' static site from the executed notebooks, without re-executing them.

    python tools/build_site.py                 # writes site/_build/html/index.html (and zh-CN/index.html)
    python tools/build_site.py --out /tmp/x    # writes /tmp/x/_build/html/index.html

The site is two books: the English edition at ``_build/html/`` and the Chinese edition (``zh-CN/``
of the repository) at ``_build/html/zh-CN/``, each a Sphinx project of its own (so no label is
defined twice), each with its own index and table of contents in its language; every page that
exists in both links to its counterpart in the other book ("中文版" / "English", under its title).
The Chinese book has the same layout under its root as ``zh-CN/`` has in the repository.

Jupyter Book 1.x (Sphinx + myst-nb) with ``execute_notebooks: off`` (see ``site/_config.yml``).
The staging folder keeps the repository's layout (``notebooks/NN_*.ipynb``,
``exercises/release/<ex>/<ex>.ipynb``, ``GLOSSARY.md``, ``TEACHING.md``, ``teaching/solutions/``),
so a relative link that works in JupyterLab started at the repository root (``../GLOSSARY.md``
from a lesson) works on the site too. Every lesson becomes a page, in number order, with
previous/next links; then every exercise's student notebook; then the glossary ("Reference"), and
the teacher's guide with its Try-this solutions ("For teachers"). The index lists each lesson with a summary taken from the
notebook itself (its first heading, and the first whole sentence of the paragraph under it), so a
new lesson needs no edit here.

The pages need nothing from the network: MathJax 3 (its components and fonts) comes from the
``sphinx-mathjax-offline`` package and is copied into ``_static/mathjax``. Any Sphinx warning
(a dead link, a missing image) fails the build.
"""

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LESSON = re.compile(r"^\d\d_.+\.ipynb$")
MATHJAX_EXTENSION = "sphinx-mathjax-offline"  # its import name, hyphens included, as Sphinx loads it
# Abbreviations whose full stop does not end a sentence (a whole word before the dot).
ABBREVIATION = re.compile(r"(?<![\w.])(e\.g|i\.e|cf|vs|et al|Fig|Eq)\.$")
# Display math, inline math and inline code: a full stop inside them ends no sentence.
# A sentence ends at ".", "?" or "!" before white space or the end, or at Chinese "。", "？", "！".
SENTENCE_END = re.compile(r"[.?!](?=\s|$)|[。？！]")
SPANS = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`")


def lessons(notebooks: Path = ROOT / "notebooks") -> list[Path]:
    """Every ``NN_*.ipynb`` in ``notebooks``, sorted by name (so by number)."""
    return sorted(p for p in notebooks.glob("*.ipynb") if LESSON.match(p.name))


def exercises(release: Path = ROOT / "exercises" / "release") -> list[Path]:
    """Every exercise's student notebook, ``release/<ex>/<ex>.ipynb``, sorted by name."""
    return sorted(p for p in release.glob("*/*.ipynb") if p.stem == p.parent.name)


def first_sentence(text: str) -> str:
    """The first whole sentence of ``text``: up to the first ``.``, ``?`` or ``!`` that is followed
    by white space or the end, or the first Chinese ``。``, ``？`` or ``！``, outside ``$math$`` and
    ```code```, and not the full stop of an abbreviation (``e.g.``). A colon or a semicolon does not
    end a sentence.

    Raises ValueError if ``text`` holds no whole sentence (a lead-in that ends with a colon)."""
    prose = SPANS.sub(lambda span: "x" * len(span.group()), text)  # same length, spans blanked out
    for end in SENTENCE_END.finditer(prose):
        if not ABBREVIATION.search(prose[: end.end()]):
            return text[: end.end()]
    raise ValueError(f"no whole sentence (ending in '.', '?', '!' or '。') in: {text!r}")


def title_and_summary(path: Path) -> tuple[str, str]:
    """The first markdown heading of a notebook (without ``#``) and the first whole sentence of
    the first paragraph after it, joined onto one line."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = next("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("#"):
        raise ValueError(f"{path.name}: the first markdown cell must start with a heading")
    title = lines[0].lstrip("#").strip()
    paragraph = []
    for line in lines[1:]:
        if line.strip():
            paragraph.append(line.strip())
        elif paragraph:
            break
    try:
        return title, first_sentence(" ".join(paragraph))
    except ValueError as error:
        raise ValueError(f"{path.name}: the paragraph under the heading must start with a whole sentence") from error


WORDS = {
    "en": {
        "title": "Batch Normalization, hands-on",
        "intro": "A numbered series of Jupyter notebooks that teaches Batch Normalization from first principles. "
        "Every page is a notebook as committed, with the outputs of its last run.",
        "table": "| lesson | what it is about |",
        "exercises": "Exercises",
        "exercises_intro": "Student notebooks in nbgrader format (`exercises/release/` in the repository): open one in "
        "JupyterLab, write the function where it says `# YOUR CODE HERE`, and run its feedback cell.",
        "Lessons": "Lessons",
        "Reference": "Reference",
        "For teachers": "For teachers",
        "other": "中文版",  # the link to the other edition's page, in that edition's language
    },
    "zh": {
        "title": "动手学批量归一化",
        "intro": "一套编号的 Jupyter 笔记本，从基本原理出发讲解批量归一化（Batch Normalization，BN）。"
        "每一页都是仓库中提交的笔记本，带着它最近一次运行的输出；代码和输出与英文版逐字节相同。",
        "table": "| 课 | 内容 |",
        "exercises": "练习",
        "exercises_intro": "nbgrader 格式的学生笔记本（仓库中的 `zh-CN/exercises/release/`）：在 JupyterLab 中打开，"
        "在 `# YOUR CODE HERE` 处写出函数，然后运行它的反馈单元格。",
        "Lessons": "课程",
        "Reference": "参考",
        "For teachers": "教师",
        "other": "English",
    },
}
"""What each book's index, table of contents and edition link say, by language."""

CONTENT = {"en": ROOT, "zh": ROOT / "zh-CN"}
"""Where each edition's pages are laid out: the book's root is this folder."""

OTHER = {"en": ("zh", "zh-CN/"), "zh": ("en", "../")}
"""Each edition's other edition, and the path from this book's root to that book's root on the site."""


def index_page(lesson_paths: list[Path], exercise_paths: list[Path], language: str = "en") -> str:
    """The index in MyST markdown: a table with one linked row per lesson, then the exercises."""
    words = WORDS[language]
    rows = []
    for path in lesson_paths:
        title, summary = title_and_summary(path)
        rows.append(f"| [{title}](notebooks/{path.name}) | {summary.replace('|', '&#124;')} |")
    lines = [f"# {words['title']}", "", words["intro"], "", words["table"], "|---|---|", *rows, ""]
    if exercise_paths:
        lines += [
            f"## {words['exercises']}",
            "",
            words["exercises_intro"],
            "",
            *[f"- [{title_and_summary(p)[0]}](exercises/release/{p.parent.name}/{p.name})" for p in exercise_paths],
            "",
        ]
    return "\n".join(lines)


PAGES = {
    "Reference": ["GLOSSARY.md"],
    "For teachers": ["TEACHING.md", "teaching/solutions/*.md"],
}
"""The Markdown pages a book carries besides the notebooks, by part of the table of contents (paths
under the book's content folder: the repository, or ``zh-CN/``)."""


def markdown_pages(content: Path = ROOT) -> dict[str, list[Path]]:
    """The pages of :data:`PAGES` that exist under ``content``, part by part, in order (parts with none left out)."""
    found = {}
    for caption, patterns in PAGES.items():
        paths = [p for pattern in patterns for p in sorted(content.glob(pattern))]
        if paths:
            found[caption] = paths
    return found


def table_of_contents(
    lesson_paths: list[Path], exercise_paths: list[Path], pages: dict[str, list[str]], language: str = "en"
) -> str:
    """``_toc.yml``: the lessons, the exercises and the Markdown pages (``pages``: caption -> files
    without suffix, relative to the book), each part under its caption (in the book's language)."""
    words = WORDS[language]
    parts = [(words["Lessons"], [f"notebooks/{p.stem}" for p in lesson_paths])]
    if exercise_paths:
        parts.append((words["exercises"], [f"exercises/release/{p.parent.name}/{p.stem}" for p in exercise_paths]))
    parts += [(words[caption], files) for caption, files in pages.items()]
    lines = ["format: jb-book", "root: index", "parts:"]
    for caption, files in parts:
        lines += [f"- caption: {caption}", "  chapters:", *[f"  - file: {f}" for f in files]]
    return "\n".join(lines) + "\n"


def edition_link(page: Path, language: str) -> str:
    """The HTML line that links the page at ``page`` (relative to its book) to the same page in the
    other edition's book: up to this book's root, across to the other's, down to the page."""
    up = "../" * (len(page.parts) - 1)
    target = f"{up}{OTHER[language][1]}{page.with_suffix('.html').as_posix()}"
    return f'<p class="edition-link"><a href="{target}">{WORDS[language]["other"]}</a></p>'


def with_edition_link(path: Path, page: Path, language: str) -> str:
    """The text of the notebook or Markdown page ``path``, with :func:`edition_link` under its title."""
    link = edition_link(page, language)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        notebook = json.loads(text)
        cell = notebook["cells"][0]  # the title's cell: the link goes right under the title
        cell["source"] = under_title("".join(cell["source"]), link)
        return json.dumps(notebook, ensure_ascii=False)
    return under_title(text, link)


def under_title(text: str, line: str) -> str:
    """``text`` with ``line`` (an HTML paragraph) after its first ``# `` heading, blank lines around it."""
    lines = text.splitlines(keepends=True)
    first = next(i for i, text_line in enumerate(lines) if text_line.startswith("# "))
    return "".join([*lines[: first + 1], "\n", line, "\n\n", *lines[first + 1 :]])


def config(language: str) -> str:
    """``_config.yml`` of a book: site/_config.yml, with the Chinese book's title and Sphinx language."""
    text = (ROOT / "site" / "_config.yml").read_text(encoding="utf-8")
    if language == "en":
        return text
    settings = yaml.safe_load(text)
    settings["title"] = WORDS[language]["title"]
    settings["sphinx"]["config"]["language"] = "zh_CN"  # the theme's own words (search, contents) in Chinese
    return yaml.safe_dump(settings, allow_unicode=True, sort_keys=False)


def stage(
    lesson_paths: list[Path],
    exercise_paths: list[Path],
    staging: Path,
    content: Path = ROOT,
    language: str = "en",
    other: Path | None = None,
) -> None:
    """Copy the config, the site's static files, the notebooks and the Markdown pages (glossary,
    teacher's guide, Try-this solutions) into ``staging`` in their layout under ``content``, and write
    the index and the table of contents. With ``other`` (the other edition's content folder), every
    page whose counterpart exists there, and the index, link to it (:func:`edition_link`)."""
    (staging / "_config.yml").write_text(config(language), encoding="utf-8")
    shutil.copytree(ROOT / "site" / "_static", staging / "_static")
    pages = markdown_pages(content)
    for path in [*lesson_paths, *exercise_paths, *(p for ps in pages.values() for p in ps)]:
        page = path.relative_to(content)
        target = staging / page
        target.parent.mkdir(parents=True, exist_ok=True)
        if other is not None and (other / page).exists():
            target.write_text(with_edition_link(path, page, language), encoding="utf-8")
        else:
            shutil.copy(path, target)
    index = index_page(lesson_paths, exercise_paths, language)
    if other is not None:
        title, rest = index.split("\n", 1)
        index = f"{title}\n\n{edition_link(Path('index.md'), language)}\n{rest}"
    (staging / "index.md").write_text(index, encoding="utf-8")
    files = {c: [p.relative_to(content).with_suffix("").as_posix() for p in ps] for c, ps in pages.items()}
    toc = table_of_contents(lesson_paths, exercise_paths, files, language)
    (staging / "_toc.yml").write_text(toc, encoding="utf-8")


def require_mathjax() -> None:
    """Raise RuntimeError, naming the package, if the MathJax the site serves is not installed."""
    if importlib.util.find_spec(MATHJAX_EXTENSION) is None:
        raise RuntimeError(
            f"the site serves MathJax itself, from the {MATHJAX_EXTENSION} package, which is not installed: "
            "python3 -m pip install -r requirements-dev.txt"
        )


def build_book(
    out: Path,
    lesson_paths: list[Path],
    exercise_paths: list[Path],
    content: Path = ROOT,
    language: str = "en",
    other: Path | None = None,
) -> Path:
    """Build one book into ``out/_build/html`` and return that folder (it holds ``index.html``).

    ``content`` is the folder the pages are laid out from (and that holds ``GLOSSARY.md``...);
    ``other``, the other edition's, to link each page to its counterpart (:func:`stage`).

    Raises RuntimeError if the MathJax package is missing or the build wrote no index, and
    subprocess.CalledProcessError if Sphinx reports any warning."""
    if not lesson_paths:
        raise ValueError("no notebooks/NN_*.ipynb to build")
    require_mathjax()
    out = Path(out).resolve()
    shutil.rmtree(out / "_build", ignore_errors=True)  # Jupyter Book's own folder: no stale pages
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "book"
        staging.mkdir()
        stage(lesson_paths, exercise_paths, staging, content, language, other)
        command = [
            sys.executable,
            "-c",
            "from jupyter_book.cli.main import main; main()",
            "build",
            str(staging),
            "--path-output",
            str(out),
            "--builder",
            "html",
            "--all",  # a fresh environment: every page is read again, so every warning is seen
            "-W",  # any warning fails the build ...
            "--keep-going",  # ... after all of them are reported
            "--quiet",
        ]
        subprocess.run(command, check=True)
    html = out / "_build" / "html"
    if not (html / "index.html").exists():
        raise RuntimeError(f"the build wrote no {html / 'index.html'}")
    if not (html / "_static" / "mathjax" / "tex-chtml.js").exists():
        raise RuntimeError(f"the build did not copy MathJax into {html / '_static' / 'mathjax'}")
    return html


def build(out: Path) -> Path:
    """Build the site, both books, into ``out/_build/html`` (the English book, whose ``zh-CN/`` holds
    the Chinese one) and return that folder. Raises as :func:`build_book` does."""
    out = Path(out).resolve()
    require_mathjax()  # before anything is built
    zh = CONTENT["zh"]
    html = build_book(out, lessons(), exercises(), ROOT, "en", other=zh)
    with tempfile.TemporaryDirectory() as tmp:
        chinese = build_book(
            Path(tmp), lessons(zh / "notebooks"), exercises(zh / "exercises" / "release"), zh, "zh", other=ROOT
        )
        shutil.copytree(chinese, html / "zh-CN")
    return html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "site", help="the site goes to OUT/_build/html (default: site/)"
    )
    html = build(parser.parse_args().out)
    print(f"site written to {html / 'index.html'} (the Chinese edition: {html / 'zh-CN' / 'index.html'})")


if __name__ == "__main__":
    main()
