"""Build the series' static site from the executed notebooks, without re-executing them.

    python tools/build_site.py                 # writes site/_build/html/index.html
    python tools/build_site.py --out /tmp/x    # writes /tmp/x/html/index.html

Jupyter Book 1.x (Sphinx + myst-nb) with ``execute_notebooks: off`` (see ``site/_config.yml``).
Every ``notebooks/NN_*.ipynb`` becomes a page, in number order, with previous/next links; the
index lists each lesson with a one-line summary taken from the notebook itself (its first
heading, and the first sentence of the paragraph under it), so a new lesson needs no edit here.
``GLOSSARY.md`` at the repository root, if present, becomes the last page.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSON = re.compile(r"^\d\d_.+\.ipynb$")


def lessons(notebooks: Path = ROOT / "notebooks") -> list[Path]:
    """Every ``NN_*.ipynb`` in ``notebooks``, sorted by name (so by number)."""
    return sorted(p for p in notebooks.glob("*.ipynb") if LESSON.match(p.name))


def title_and_summary(path: Path) -> tuple[str, str]:
    """The first markdown heading of a notebook (without ``#``) and the first sentence of the
    first paragraph after it, joined onto one line."""
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
    words = " ".join(paragraph)
    match = re.search(r"^(.+?[.?!:])(\s|$)", words)
    return title, (match.group(1) if match else words)


def index_page(paths: list[Path]) -> str:
    """The index in MyST markdown: a table with one linked row per lesson."""
    rows = []
    for path in paths:
        title, summary = title_and_summary(path)
        rows.append(f"| [{title}]({path.name}) | {summary.replace('|', '&#124;')} |")
    return "\n".join(
        [
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
    )


def stage(paths: list[Path], staging: Path) -> None:
    """Copy the config, the notebooks and the glossary into ``staging`` and write index and toc."""
    shutil.copy(ROOT / "site" / "_config.yml", staging / "_config.yml")
    for path in paths:
        shutil.copy(path, staging / path.name)
    (staging / "index.md").write_text(index_page(paths), encoding="utf-8")
    toc = ["format: jb-book", "root: index", "chapters:", *[f"- file: {p.stem}" for p in paths]]
    glossary = ROOT / "GLOSSARY.md"
    if glossary.exists():
        text = glossary.read_text(encoding="utf-8").replace("](notebooks/", "](")  # lessons sit beside it
        (staging / "glossary.md").write_text(text, encoding="utf-8")
        toc.append("- file: glossary")
    (staging / "_toc.yml").write_text("\n".join(toc) + "\n", encoding="utf-8")


def build(out: Path, paths: list[Path] | None = None) -> Path:
    """Build the site into ``out`` and return the folder holding ``index.html``."""
    paths = lessons() if paths is None else paths
    if not paths:
        raise ValueError("no notebooks/NN_*.ipynb to build")
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "book"
        staging.mkdir()
        stage(paths, staging)
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
            "--quiet",
        ]
        subprocess.run(command, check=True)
    html = out / "_build" / "html"
    if not (html / "index.html").exists():
        raise RuntimeError(f"the build wrote no {html / 'index.html'}")
    return html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="output folder (default: site/)")
    html = build(parser.parse_args().out)
    print(f"site written to {html / 'index.html'}")


if __name__ == "__main__":
    main()
