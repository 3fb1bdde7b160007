"""TEACHING.md, the teacher's guide: its time table is the measured one, and it covers every lesson,
exercise and Try-this solution.

The core time of each lesson is measured by ``tools/core_time.py`` from the notebook; the guide
holds its table between ``<!-- core-time -->`` markers, so a lesson that grows or moves a section
into a Deep dive changes the table, and this test says to paste the new one.
"""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import core_time  # noqa: E402

GUIDE = (ROOT / "TEACHING.md").read_text(encoding="utf-8")
LESSONS = core_time.lesson_paths()  # lesson_runs.lesson_paths, as the tool uses it
EXERCISES = sorted(p.name for p in (ROOT / "exercises" / "source").iterdir() if p.is_dir())


def test_the_time_table_is_the_measured_one():
    held = re.search(r"<!-- core-time -->\n(.*?)\n<!-- /core-time -->", GUIDE, re.S)
    assert held, "TEACHING.md holds the table between <!-- core-time --> and <!-- /core-time -->"
    assert held.group(1) == core_time.table(), "a lesson changed: paste the output of python tools/core_time.py"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_has_objectives_and_a_solutions_page(path):
    number = path.name[:2]
    section = re.search(rf"^### {number} · .*?(?=^### |^## )", GUIDE, re.S | re.M)
    assert section, f"TEACHING.md has a section '### {number} · <title>'"
    objectives = re.findall(r"^(?:\d+\.|-) ", section.group(0), re.M)
    assert len(objectives) >= 3, f"lesson {number}: at least three learning objectives"
    solutions = ROOT / "teaching" / "solutions" / f"{number}.md"
    assert solutions.is_file(), f"{solutions.relative_to(ROOT)} holds the Try-this solutions"
    assert f"teaching/solutions/{number}.md" in GUIDE, f"the guide links {solutions.relative_to(ROOT)}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_try_this_item_has_a_solution(path):
    """The lesson's numbered Try-this items and the solution page's '## Try this N' sections match."""
    import json

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    section = re.search(r"^## Try this\s*\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, f"{path.name} has a '## Try this' section"
    items = len(re.findall(r"^\d+\. ", section.group(1), re.M))
    assert items >= 2, f"{path.name}: at least two numbered Try-this items"
    page = (ROOT / "teaching" / "solutions" / f"{path.name[:2]}.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## Try this (\d+)\b", page, re.M)
    assert headings == [str(i) for i in range(1, items + 1)], (path.name, items, headings)


def test_every_exercise_is_in_the_guide():
    for exercise in EXERCISES:
        assert f"exercises/release/{exercise}/{exercise}.ipynb" in GUIDE, exercise
    assert len(EXERCISES) == 5


CORE_MINUTES_AT_MOST = 50  # the series aims at about 45 minutes; the rates are a rule of thumb


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_the_core_path_takes_about_45_minutes(path):
    minutes = core_time.measure(path)["minutes"]
    assert minutes <= CORE_MINUTES_AT_MOST, (
        f"{path.name}: the core path takes {minutes} min by tools/core_time.py (at most "
        f"{CORE_MINUTES_AT_MOST}): tighten it, or move research-grade parts into '## Deep dive: ...' sections"
    )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_the_core_asks_the_student_to_predict(path):
    """At least one "Predict" in the core, at least two in the lesson (CONTRIBUTING's form)."""
    import json

    core = core_time.measure(path)["predictions"]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    everywhere = sum("predict" in "".join(c["source"]).lower() for c in cells if c["cell_type"] == "markdown")
    assert core >= 1 and everywhere >= 2, f"{path.name}: {core} Predict in the core, {everywhere} in the lesson"


def section_headings(path: Path) -> list[str]:
    """The lesson's ``## `` headings in order; each opens its own markdown cell, one per cell."""
    import json

    headings = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        found = re.findall(r"^## (.+)$", source, re.M)
        assert len(found) <= 1, f"{path.name}, cell {cell['id']}: one '## ' heading per markdown cell, not {found}"
        if found:
            assert source.lstrip().startswith("## "), f"{path.name}, cell {cell['id']}: '## {found[0]}' opens its cell"
            headings.append(found[0].strip())
    return headings


def kind(heading: str) -> int:
    """0 core (the Summary included), 1 Try this, 2 a deep dive, 3 Sources."""
    if heading == "Try this":
        return 1
    if core_time.is_deep_dive(heading):  # the tool's own rule for what the core leaves out
        assert heading.startswith("Deep dive: "), f"'## {heading}': a deep dive is headed '## Deep dive: <title>'"
        return 2
    return 3 if heading == "Sources" else 0


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_the_deep_dives_come_after_the_core(path):
    """Core sections, then Try this, then the Deep dives, then Sources last: the core stands alone."""
    kinds = [kind(h) for h in section_headings(path)]
    assert kinds.count(1) == 1 and kinds.count(3) == 1, f"{path.name}: one '## Try this' and one '## Sources'"
    assert kinds == sorted(kinds), f"{path.name}: sections in the order core, Try this, deep dives, Sources"
    assert kinds[0] == 0 and kinds[-1] == 3, path.name
