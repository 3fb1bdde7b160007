"""How long each lesson's core path takes a student: measured from the notebook, converted at stated rates.

A lesson's **core path** is every cell outside its "Deep dive" sections (a markdown heading
``## Deep dive: ...`` opens one; the next ``## `` heading that is not a deep dive closes it) and
outside "Sources". From the core this tool counts what a student has to do:

- words of prose (markdown, formulas counted as words, links by their text);
- code lines to read and cells to run;
- figures to read (image outputs);
- "Predict" questions to answer (a markdown cell containing "Predict");

and converts them at fixed rates, stated here so a teacher can redo the sum: technical prose at
100 words a minute, code at 6 lines a minute plus 10 s to run a cell, 1 minute per figure and
2 minutes per prediction. The rates are a teacher's rule of thumb, not a measurement of students;
the counts are measured. ``TEACHING.md`` carries the table this prints (between the markers
``<!-- core-time -->`` and ``<!-- /core-time -->``); ``tests/test_teaching.py`` fails when a lesson
changes and the table no longer matches.

Run: python tools/core_time.py            # the table, as TEACHING.md holds it
"""

import json
import re
import sys
from pathlib import Path

from lesson_runs import lesson_paths  # the lessons, in order (this folder is on sys.path when run)

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_MINUTE = 100
CODE_LINES_PER_MINUTE = 6
SECONDS_PER_CELL_RUN = 10
MINUTES_PER_FIGURE = 1
MINUTES_PER_PREDICTION = 2


def sections(notebook: dict) -> list[tuple[str, list[dict]]]:
    """The notebook's cells grouped by ``## `` heading: (heading, cells); cells before any heading under ''."""
    groups: list[tuple[str, list[dict]]] = [("", [])]
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        heading = re.match(r"^## (.*)$", source, re.M) if cell["cell_type"] == "markdown" else None
        if heading and source.lstrip().startswith("## "):
            groups.append((heading.group(1).strip(), []))
        groups[-1][1].append(cell)
    return groups


def is_deep_dive(heading: str) -> bool:
    return heading.lower().startswith("deep dive")


def prose_words(markdown: str) -> int:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # a link counts by its text
    text = re.sub(r"<[^>]+>", " ", text)
    return len(re.findall(r"[\w$\\^{}()=+\-*/|.,']+", text))


def measure(path: Path) -> dict:
    """Counts of the core path and the deep dives of one lesson, and the core's minutes."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    core = {"words": 0, "code_lines": 0, "cells_run": 0, "figures": 0, "predictions": 0}
    deep_dives = []
    for heading, cells in sections(notebook):
        if is_deep_dive(heading):
            deep_dives.append(heading)
            continue
        if heading.lower().startswith("sources"):
            continue
        for cell in cells:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                core["words"] += prose_words(source)
                core["predictions"] += "predict" in source.lower()
            elif cell["cell_type"] == "code":
                core["code_lines"] += sum(1 for line in source.splitlines() if line.strip())
                core["cells_run"] += 1
                core["figures"] += sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
    minutes = (
        core["words"] / WORDS_PER_MINUTE
        + core["code_lines"] / CODE_LINES_PER_MINUTE
        + core["cells_run"] * SECONDS_PER_CELL_RUN / 60
        + core["figures"] * MINUTES_PER_FIGURE
        + core["predictions"] * MINUTES_PER_PREDICTION
    )
    return {**core, "minutes": round(minutes), "deep_dives": deep_dives}


def table() -> str:
    """The Markdown table TEACHING.md holds: one row per lesson, the core's counts and minutes."""
    lines = [
        "| lesson | core: words | code lines | cells | figures | predictions | core time | deep dives |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for path in lesson_paths():
        m = measure(path)
        dives = "; ".join(d.split(":", 1)[-1].strip() for d in m["deep_dives"]) or "—"
        lines.append(
            f"| [{path.name[:2]}](notebooks/{path.name}) | {m['words']:,} | {m['code_lines']} | {m['cells_run']} "
            f"| {m['figures']} | {m['predictions']} | {m['minutes']} min | {dives} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(print(table()))
