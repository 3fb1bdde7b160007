"""GLOSSARY.md: every term appears in the lesson it names, and the notes' terms are the notes' own.

The terms are matched case-insensitively against the notebook's text (markdown and code). The
notes are looked for beside the repository (``../shared/reference/000_*.txt``, as in CI) or one
level up (a worktree under ``/work/wt/``).
"""

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import zh_edition  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTES = next(
    (
        found
        for base in (ROOT.parent, ROOT.parent.parent)
        if (found := sorted((base / "shared" / "reference").glob("000_*.txt")))
    ),
    [],
)


def glossary_rows() -> list[dict]:
    """The rows of the table in GLOSSARY.md as dicts: term, symbol, lesson (a path), notes, remark, zh."""
    rows = []
    for cells in zh_edition.glossary_rows():  # the table's rows, split into cells (as zh-CN/GLOSSARY.md is made)
        assert len(cells) == 6, f"a glossary row has 6 columns: {cells}"
        link = re.fullmatch(r"\[\d\d\]\((notebooks/\d\d_\w+\.ipynb)\)", cells[2])
        assert link, f"the lesson column is a link [NN](notebooks/NN_x.ipynb): {cells[2]}"
        rows.append(
            {
                "term": cells[0],
                "symbol": cells[1],
                "lesson": link.group(1),
                "notes": cells[3],
                "remark": cells[4],
                "zh": cells[5],
            }
        )
    return rows


ROWS = glossary_rows()


def lesson_text(path: str, root: Path = ROOT) -> str:
    cells = json.loads((root / path).read_text(encoding="utf-8"))["cells"]
    return " ".join("".join(c["source"]) for c in cells).lower()


def test_the_glossary_has_the_series_terms():
    terms = {row["term"].lower() for row in ROWS}
    assert len(ROWS) >= 25 and len(terms) == len(ROWS), "terms are unique"
    for term in (
        "internal covariate shift",
        "vanishing gradient",
        "mean",
        "variance",
        "unbiased variance",
        "population variance",
        "regularization",
        "saturated regime",
    ):
        assert term in terms


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["term"])
def test_term_appears_in_its_lesson(row):
    assert (ROOT / row["lesson"]).exists(), f"{row['lesson']} does not exist"
    assert row["term"].lower() in lesson_text(row["lesson"]), f"{row['term']!r} is not in {row['lesson']}"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["term"])
def test_notes_term_is_spelled_as_in_the_notes(row):
    if row["notes"] == "—":
        assert row["remark"], f"{row['term']}: a term the notes lack needs the usual rendering in the remark"
        return
    if not NOTES:
        pytest.skip("the source notes (../shared/reference/000_*.txt) are not beside the repository")
    notes = "".join(p.read_text(encoding="utf-8") for p in NOTES)
    assert row["notes"] in notes, f"{row['notes']!r} does not occur in the notes"


def test_a_term_absent_from_its_lesson_fails(tmp_path):
    # The check is not vacuous: lesson_text finds a term a notebook contains and misses one it lacks.
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Internal Covariate Shift\n"]},
            {"cell_type": "code", "source": ["x_hat = (x - mu) / sd\n"]},
        ]
    }
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "99_probe.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    text = lesson_text("notebooks/99_probe.ipynb", root=tmp_path)
    assert "internal covariate shift" in text and "x_hat" in text
    assert "vanishing gradient" not in text


def bold_in(path: Path, term: str) -> bool:
    """The lesson's markdown writes ``term`` in bold (``**...term...**``): how a lesson marks a definition."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").lower()
    return any(term.lower() in span for span in re.findall(r"\*\*(.+?)\*\*", text, re.S))


LESSON_PATHS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["term"])
def test_lesson_column_names_the_defining_lesson(row):
    """The lesson named defines the term: it writes the term in bold, and no earlier lesson does."""
    named = ROOT / row["lesson"]
    assert bold_in(named, row["term"]), f"{row['lesson']} does not define {row['term']!r} (in bold)"
    earlier = [p.name[:2] for p in LESSON_PATHS if p.name < named.name and bold_in(p, row["term"])]
    assert not earlier, (
        f"{row['term']!r} is first written in bold (defined) in lesson {earlier[0]}, not {named.name[:2]}"
    )


ZH_LESSONS = ROOT / "zh-CN" / "notebooks"


def bold_in_zh(path: Path, term: str) -> bool:
    """:func:`bold_in` for a Chinese term, which a longer glossary term may contain (归一化 in 批量归一化,
    学习率 in 有效学习率): inside a bold span, the longer terms are taken out before ``term`` is looked for."""
    longer = sorted((r["zh"] for r in ROWS if term in r["zh"] and r["zh"] != term), key=len, reverse=True)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").lower()
    for span in re.findall(r"\*\*(.+?)\*\*", text, re.S):
        for other in longer:
            span = span.replace(other.lower(), " ")
        if term.lower() in span:
            return True
    return False


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["term"])
def test_chinese_lesson_defines_the_editions_term(row):
    """The Chinese lesson named (where it exists) writes the edition's term (column 中文版) in bold, and no
    earlier Chinese lesson does: the Chinese student meets each term defined where the English one does."""
    assert re.search(r"[\u4e00-\u9fff]", row["zh"]) or row["zh"] == row["term"], row
    named = ZH_LESSONS / Path(row["lesson"]).name
    if not named.exists():
        pytest.skip(f"{named.name} is not translated yet")
    assert bold_in_zh(named, row["zh"]), f"zh-CN/notebooks/{named.name} does not define {row['zh']!r} (in bold)"
    lessons = sorted(ZH_LESSONS.glob("[0-9][0-9]_*.ipynb"))
    earlier = [p.name[:2] for p in lessons if p.name < named.name and bold_in_zh(p, row["zh"])]
    assert not earlier, f"{row['zh']!r} is first written in bold in Chinese lesson {earlier[0]}, not {named.name[:2]}"
