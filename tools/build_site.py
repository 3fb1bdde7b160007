"""Build the series' static site from the executed notebooks, without re-executing them.

    python tools/build_site.py                 # writes site/_build/html/index.html
    python tools/build_site.py --out /tmp/x    # writes /tmp/x/_build/html/index.html

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

ROOT = Path(__file__).resolve().parent.parent
LESSON = re.compile(r"^\d\d_.+\.ipynb$")
MATHJAX_EXTENSION = "sphinx-mathjax-offline"  # its import name, hyphens included, as Sphinx loads it
# Abbreviations whose full stop does not end a sentence (a whole word before the dot).
ABBREVIATION = re.compile(r"(?<![\w.])(e\.g|i\.e|cf|vs|et al|Fig|Eq)\.$")
# Display math, inline math and inline code: a full stop inside them ends no sentence.
SPANS = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`")


def lessons(notebooks: Path = ROOT / "notebooks") -> list[Path]:
    """Every ``NN_*.ipynb`` in ``notebooks``, sorted by name (so by number)."""
    return sorted(p for p in notebooks.glob("*.ipynb") if LESSON.match(p.name))


def exercises(release: Path = ROOT / "exercises" / "release") -> list[Path]:
    """Every exercise's student notebook, ``release/<ex>/<ex>.ipynb``, sorted by name."""
    return sorted(p for p in release.glob("*/*.ipynb") if p.stem == p.parent.name)


def first_sentence(text: str) -> str:
    """The first whole sentence of ``text``: up to the first ``.``, ``?`` or ``!`` that is followed
    by white space or the end, outside ``$math$`` and ```code```, and not the full stop of an
    abbreviation (``e.g.``). A colon or a semicolon does not end a sentence.

    Raises ValueError if ``text`` holds no whole sentence (a lead-in that ends with a colon)."""
    prose = SPANS.sub(lambda span: "x" * len(span.group()), text)  # same length, spans blanked out
    for end in re.finditer(r"[.?!](?=\s|$)", prose):
        if not ABBREVIATION.search(prose[: end.end()]):
            return text[: end.end()]
    raise ValueError(f"no whole sentence (ending in '.', '?' or '!') in: {text!r}")


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


def index_page(lesson_paths: list[Path], exercise_paths: list[Path]) -> str:
    """The index in MyST markdown: a table with one linked row per lesson, then the exercises."""
    rows = []
    for path in lesson_paths:
        title, summary = title_and_summary(path)
        rows.append(f"| [{title}](notebooks/{path.name}) | {summary.replace('|', '&#124;')} |")
    lines = [
        "# Batch Normalization, hands-on",
        "",
        "A numbered series of Jupyter notebooks that teaches Batch Normalization from first principles. "
        "Every page is a notebook as committed, with the outputs of its last run.",
        "",
        "| lesson | what it is about |",
        "|---|---|",
        *rows,
        "",
    ]
    if exercise_paths:
        lines += [
            "## Exercises",
            "",
            "Student notebooks in nbgrader format (`exercises/release/` in the repository): open one in "
            "JupyterLab, write the function where it says `# YOUR CODE HERE`, and run its feedback cell.",
            "",
            *[f"- [{title_and_summary(p)[0]}](exercises/release/{p.parent.name}/{p.name})" for p in exercise_paths],
            "",
        ]
    return "\n".join(lines)


PAGES = {
    "Reference": ["GLOSSARY.md"],
    "For teachers": ["TEACHING.md", "teaching/solutions/*.md"],
}
"""The repository's Markdown pages the site carries besides the notebooks, by part of the table of contents."""


def markdown_pages(content: Path = ROOT) -> dict[str, list[Path]]:
    """The pages of :data:`PAGES` that exist under ``content``, part by part, in order (parts with none left out)."""
    found = {}
    for caption, patterns in PAGES.items():
        paths = [p for pattern in patterns for p in sorted(content.glob(pattern))]
        if paths:
            found[caption] = paths
    return found


def table_of_contents(lesson_paths: list[Path], exercise_paths: list[Path], pages: dict[str, list[str]]) -> str:
    """``_toc.yml``: the lessons, the exercises and the Markdown pages (``pages``: caption -> files
    without suffix, relative to the book), each part under its caption."""
    parts = [("Lessons", [f"notebooks/{p.stem}" for p in lesson_paths])]
    if exercise_paths:
        parts.append(("Exercises", [f"exercises/release/{p.parent.name}/{p.stem}" for p in exercise_paths]))
    parts += list(pages.items())
    lines = ["format: jb-book", "root: index", "parts:"]
    for caption, files in parts:
        lines += [f"- caption: {caption}", "  chapters:", *[f"  - file: {f}" for f in files]]
    return "\n".join(lines) + "\n"


def stage(lesson_paths: list[Path], exercise_paths: list[Path], staging: Path, content: Path = ROOT) -> None:
    """Copy the config, the site's static files, the notebooks and the Markdown pages (glossary,
    teacher's guide, Try-this solutions) into ``staging`` in their layout under ``content`` (the
    repository), and write the index and the table of contents."""
    shutil.copy(ROOT / "site" / "_config.yml", staging / "_config.yml")
    shutil.copytree(ROOT / "site" / "_static", staging / "_static")
    pages = markdown_pages(content)
    for path in [*lesson_paths, *exercise_paths, *(p for ps in pages.values() for p in ps)]:
        target = staging / path.relative_to(content)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (staging / "index.md").write_text(index_page(lesson_paths, exercise_paths), encoding="utf-8")
    files = {c: [p.relative_to(content).with_suffix("").as_posix() for p in ps] for c, ps in pages.items()}
    (staging / "_toc.yml").write_text(table_of_contents(lesson_paths, exercise_paths, files), encoding="utf-8")


def build(
    out: Path,
    lesson_paths: list[Path] | None = None,
    exercise_paths: list[Path] | None = None,
    content: Path = ROOT,
) -> Path:
    """Build the site into ``out/_build/html`` and return that folder (it holds ``index.html``).

    ``lesson_paths`` and ``exercise_paths`` default to every lesson and exercise of the repository;
    ``content`` is the folder their pages are laid out from (and that holds ``GLOSSARY.md``).

    Raises RuntimeError if the MathJax package is missing or the build wrote no index, and
    subprocess.CalledProcessError if Sphinx reports any warning."""
    lesson_paths = lessons() if lesson_paths is None else lesson_paths
    exercise_paths = exercises() if exercise_paths is None else exercise_paths
    if not lesson_paths:
        raise ValueError("no notebooks/NN_*.ipynb to build")
    if importlib.util.find_spec(MATHJAX_EXTENSION) is None:
        raise RuntimeError(
            f"the site serves MathJax itself, from the {MATHJAX_EXTENSION} package, which is not installed: "
            "python3 -m pip install -r requirements-dev.txt"
        )
    out = Path(out).resolve()
    shutil.rmtree(out / "_build", ignore_errors=True)  # Jupyter Book's own folder: no stale pages
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "book"
        staging.mkdir()
        stage(lesson_paths, exercise_paths, staging, content)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "site", help="the site goes to OUT/_build/html (default: site/)"
    )
    html = build(parser.parse_args().out)
    print(f"site written to {html / 'index.html'}")


if __name__ == "__main__":
    main()
