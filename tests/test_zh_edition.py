"""The Chinese edition (zh-CN/) is the English one, translated: tools/zh_edition.py and its lockstep checks.

Every Chinese notebook that exists must have the English notebook's code cells and outputs byte
for byte, every markdown cell translated from the English cell's current text (its recorded hash)
and the same formulas. The tool itself is tested on small notebooks: each kind of drift is caught.
"""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import zh_edition  # noqa: E402

CHINESE = [p for p in zh_edition.english_paths() if zh_edition.zh_path(p).exists()]


@pytest.mark.parametrize("english", CHINESE, ids=lambda p: p.stem)
def test_chinese_notebook_is_in_lockstep(english):
    found = zh_edition.problems(zh_edition.read(english), zh_edition.read(zh_edition.zh_path(english)))
    assert not found, "\n".join(found)


def notebook(*cells):
    return {"cells": [dict(c) for c in cells], "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4}


def md(cid, text):
    return {"cell_type": "markdown", "id": cid, "metadata": {}, "source": text}


def code(cid, text, out="1\n"):
    return {
        "cell_type": "code",
        "id": cid,
        "metadata": {},
        "execution_count": 1,
        "source": text,
        "outputs": [{"output_type": "stream", "name": "stdout", "text": out}],
    }


ENGLISH = notebook(
    md("intro", "The batch mean $\\mu_B$ of one channel, and its variance $$\\sigma^2_B = \\frac{1}{m}\\sum_i x_i^2$$"),
    code("c1", "print(1)"),
    md("end", "## Try this"),
)


def translated():
    chinese = zh_edition.sync(ENGLISH, None)
    chinese["cells"][0]["source"] = (
        "一个通道的批量均值 $\\mu_B$，以及它的方差 $$\\sigma^2_B = \\frac{1}{m}\\sum_i x_i^2$$"
    )
    chinese["cells"][2]["source"] = "## 动手试试"
    return zh_edition.stamp(ENGLISH, chinese, ["intro", "end"])


def test_a_full_translation_has_no_problems():
    chinese = translated()
    assert zh_edition.problems(ENGLISH, chinese) == []
    assert chinese["metadata"]["language"] == "zh-CN"
    assert chinese["cells"][1] == ENGLISH["cells"][1]


def test_sync_adds_untranslated_cells_and_keeps_translations():
    assert zh_edition.problems(ENGLISH, zh_edition.sync(ENGLISH, None)) == [
        "markdown cell intro: not translated",
        "markdown cell end: not translated",
    ]
    english = notebook(*ENGLISH["cells"], md("new", "A new paragraph of English prose here."))
    resynced = zh_edition.sync(english, translated())
    assert zh_edition.problems(english, resynced) == ["markdown cell new: not translated"]
    assert resynced["cells"][0]["source"].startswith("一个通道")


def test_changed_english_makes_the_translation_stale():
    english = notebook(md("intro", ENGLISH["cells"][0]["source"] + " More."), *ENGLISH["cells"][1:])
    assert zh_edition.problems(english, zh_edition.sync(english, translated())) == [
        "markdown cell intro: stale (the English changed since it was translated)"
    ]


def test_changed_code_or_outputs_are_caught_and_sync_restores_them():
    english = notebook(ENGLISH["cells"][0], code("c1", "print(1)", out="2\n"), ENGLISH["cells"][2])
    chinese = translated()
    assert zh_edition.problems(english, chinese) == [
        "code cell c1: source, outputs or metadata differ from the English"
    ]
    assert zh_edition.problems(english, zh_edition.sync(english, chinese)) == []


def test_a_formula_changed_in_translation_is_caught():
    chinese = translated()
    chinese["cells"][0]["source"] = chinese["cells"][0]["source"].replace("\\mu_B", "\\mu")
    assert zh_edition.problems(ENGLISH, chinese) == ["markdown cell intro: formulas differ from the English"]


def test_stamped_english_text_and_reordered_cells_are_caught():
    chinese = zh_edition.stamp(ENGLISH, zh_edition.sync(ENGLISH, None), ["intro", "end"])
    assert zh_edition.problems(ENGLISH, chinese) == ["markdown cell intro: stamped, but has no Chinese text"]
    shuffled = translated()
    shuffled["cells"] = shuffled["cells"][::-1]
    assert zh_edition.problems(ENGLISH, shuffled)[0].startswith("cells differ")


def test_stamp_refuses_a_code_cell_or_an_unknown_id():
    with pytest.raises(ValueError, match="only a markdown cell"):
        zh_edition.stamp(ENGLISH, zh_edition.sync(ENGLISH, None), ["c1"])
    with pytest.raises(ValueError, match=r"no such cells in the Chinese notebook: \['nope'\]"):
        zh_edition.stamp(ENGLISH, zh_edition.sync(ENGLISH, None), ["nope"])


def test_formulas_in_order():
    assert zh_edition.formulas("a $x$ b $$y\nz$$ c $w$") == ["$x$", "$$y\nz$$", "$w$"]
    assert zh_edition.formulas("$\\eta = 0.1,\n10$ and $a$") == ["$\\eta = 0.1,\n10$", "$a$"]  # wrapped inline math
    assert zh_edition.formulas("costs $5.\n\nA new paragraph $x$") == ["$x$"]  # not across a paragraph


def test_every_lesson_and_student_notebook_has_a_place_in_the_edition():
    paths = zh_edition.english_paths()
    assert len(paths) >= 16
    assert zh_edition.zh_path(paths[0]) == zh_edition.ZH / "notebooks" / paths[0].name
    assert zh_edition.zh_path(paths[-1]).parent.parent == zh_edition.ZH / "exercises" / "source"


DOCUMENTS = [p for p in zh_edition.documents() if zh_edition.zh_path(p).exists()]


@pytest.mark.parametrize("english", DOCUMENTS, ids=lambda p: p.stem)
def test_chinese_document_is_in_lockstep(english):
    chinese = zh_edition.zh_path(english).read_text(encoding="utf-8")
    found = zh_edition.document_problems(english.read_text(encoding="utf-8"), chinese)
    assert not found, "\n".join(found)


def test_the_chinese_glossary_is_generated_from_the_glossary():
    written = (zh_edition.ZH / "GLOSSARY.md").read_text(encoding="utf-8")
    assert written == zh_edition.glossary(), "zh-CN/GLOSSARY.md is out of date: python tools/zh_edition.py glossary"
    assert len(zh_edition.glossary_rows()) == written.count("\n| ") - 1  # every term, plus the header row


GUIDE = "# Guide\n\nIntro with $x$.\n\n## Code\n\n```python\n# not a heading\nprint(1)\n```\n\n## End\n\nThe end, with $y$.\n"


def translated_guide():
    chinese = zh_edition.sync_document(GUIDE, None)
    parts = zh_edition.chinese_sections(chinese)
    bodies = [
        "# 指南\n\n含 $x$ 的引言。\n\n",
        "## 代码\n\n```python\n# not a heading\nprint(1)\n```\n\n",
        "## 结尾\n\n结尾，含 $y$。\n",
    ]
    chinese = "".join(f'<!-- translates: "{h}" sha256={s} -->\n{b}' for (h, s, _), b in zip(parts, bodies))
    return zh_edition.stamp_document(GUIDE, chinese, [0, 1, 2])


def test_a_document_is_cut_at_headings_outside_code():
    assert [zh_edition.heading(s) for s in zh_edition.sections(GUIDE)] == ["# Guide", "## Code", "## End"]
    assert "".join(zh_edition.sections(GUIDE)) == GUIDE


def test_a_translated_document_has_no_problems_and_sync_keeps_it():
    chinese = translated_guide()
    assert zh_edition.document_problems(GUIDE, chinese) == []
    assert zh_edition.sync_document(GUIDE, chinese) == chinese
    assert zh_edition.document_problems(GUIDE, zh_edition.sync_document(GUIDE, None)) == [
        "section 0 (# Guide): not translated",
        "section 1 (## Code): not translated",
        "section 2 (## End): not translated",
    ]


def test_document_drift_is_caught():
    chinese = translated_guide()
    changed = GUIDE.replace("The end", "The very end")
    assert zh_edition.document_problems(changed, zh_edition.sync_document(changed, chinese)) == [
        "section 2 (## End): stale (the English changed since it was translated)"
    ]
    added = GUIDE.replace("## End", "## New\n\nA new section of English prose here.\n\n## End")
    assert zh_edition.document_problems(added, zh_edition.sync_document(added, chinese)) == [
        "section 2 (## New): not translated"
    ]
    assert zh_edition.document_problems(added, chinese)[0].startswith("sections differ")
    assert zh_edition.document_problems(GUIDE, chinese.replace("print(1)", "print(2)")) == [
        "section 1 (## Code): code blocks differ from the English"
    ]
    assert zh_edition.document_problems(GUIDE, chinese.replace("$y$", "$z$")) == [
        "section 2 (## End): formulas differ from the English"
    ]
    with pytest.raises(ValueError, match="no such sections"):
        zh_edition.stamp_document(GUIDE, chinese, [3])
    renamed = GUIDE.replace("## End", "## The end")  # a renamed heading keeps its translation, now stale
    resynced = zh_edition.sync_document(renamed, chinese)
    assert "结尾，含 $y$。" in resynced
    assert zh_edition.document_problems(renamed, resynced) == [
        "section 2 (## The end): stale (the English changed since it was translated)"
    ]


def test_localize_gives_every_feedback_check_the_language():
    assert zh_edition.localize("check_fold_batchnorm(fold)") == 'check_fold_batchnorm(fold, language="zh")'
    assert (
        zh_edition.localize("check_running_update(running_update).assert_passed()")
        == 'check_running_update(running_update, language="zh").assert_passed()'
    )
    unchanged = "from bnlib.checks import check_fold_batchnorm\nnp.set_printoptions(precision=4)"
    assert zh_edition.localize(unchanged) == unchanged


def exercise(*cells):
    return notebook(
        md("intro", "Write the function below, then run its feedback cell."),
        {**code("solution", "def fold(W):\n    return W"), "metadata": {"nbgrader": {"solution": True}}},
        *cells,
    )


def test_an_exercise_localizes_its_feedback_cells_and_needs_their_outputs():
    english = exercise(code("feedback", "check_fold_batchnorm(fold)", out="fold_batchnorm: PASSED.\n"))
    chinese = zh_edition.sync(english, None)
    assert chinese["cells"][2]["source"] == ['check_fold_batchnorm(fold, language="zh")']
    assert chinese["cells"][2]["outputs"] is None  # to be run: sync's run_localized fills them in
    assert chinese["cells"][1] == english["cells"][1]
    problems = zh_edition.problems(english, chinese)
    assert "code cell feedback: source, outputs or metadata differ from the English" in problems
    chinese["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "fold_batchnorm：通过。\n"}]
    chinese["cells"][0]["source"] = "写出下面的函数，然后运行它的反馈单元格。"
    chinese = zh_edition.stamp(english, chinese, ["intro"])
    assert zh_edition.problems(english, chinese) == []
    assert zh_edition.sync(english, chinese) == chinese  # a re-sync keeps the Chinese outputs of the same code
    chinese["cells"][2]["source"] = ["check_fold_batchnorm(fold)"]  # the English call, not localized
    assert zh_edition.problems(english, chinese) == [
        "code cell feedback: source, outputs or metadata differ from the English"
    ]


def test_a_lesson_is_not_localized():
    english = notebook(md("intro", "A lesson that defines its own check_sweep helper."), code("c", "check_sweep(a)"))
    assert zh_edition.sync(english, None)["cells"][1] == english["cells"][1]


ROOT = zh_edition.ROOT
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def chinese_pages() -> dict:
    """Every Chinese page (notebook markdown, document, README.zh-CN.md): its path and text."""
    pages = {ROOT / "README.zh-CN.md": (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")}
    for path in sorted(zh_edition.ZH.rglob("*.md")):
        pages[path] = path.read_text(encoding="utf-8")
    for path in sorted(zh_edition.ZH.rglob("*.ipynb")):
        cells = zh_edition.read(path)["cells"]
        pages[path] = "\n".join(zh_edition.source(c) for c in cells if c["cell_type"] == "markdown")
    return pages


def test_chinese_pages_link_to_chinese_pages_where_one_exists():
    """A relative link of a Chinese page names an existing file; a page of the edition (under zh-CN/) links
    the Chinese page, not the English, whenever the edition has it (a lesson, an exercise, the guide, the
    glossary). README.zh-CN.md, the entrance, may also point to the English README's sections by name."""
    checked, wrong = 0, []
    for path, text in chinese_pages().items():
        for link in LINK.findall(text):
            if "://" in link or link.startswith("mailto:"):
                continue
            target = (path.parent / link).resolve()
            checked += 1
            if not target.is_file():
                wrong.append(f"{path.relative_to(ROOT)}: {link} (no such file)")
            elif path.is_relative_to(zh_edition.ZH) and not target.is_relative_to(zh_edition.ZH):
                chinese = zh_edition.ZH / target.relative_to(ROOT)
                if chinese.exists() or target.name == "README.md":
                    wrong.append(f"{path.relative_to(ROOT)}: {link} (the English page; the Chinese one exists)")
    assert checked >= 40 and not wrong, wrong


def fenced(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)


def test_the_chinese_readme_is_the_chinese_editions_entrance():
    """README.zh-CN.md is linked from the top of README.md and back; it lists every Chinese lesson and
    exercise and links the Chinese guide and glossary; its commands to set up and open the lessons,
    and to set up and test, are the English README's, verbatim."""
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "](README.zh-CN.md)" in english.split("\n## ")[0], "README.md links the Chinese README at its top"
    assert "](README.md)" in chinese.split("\n## ")[0], "README.zh-CN.md links the English README at its top"
    for path in sorted((zh_edition.ZH / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"](zh-CN/notebooks/{path.name})" in chinese, f"README.zh-CN.md does not list {path.name}"
    for path in sorted((zh_edition.ZH / "exercises" / "release").glob("*/*.ipynb")):
        assert f"](zh-CN/{path.relative_to(zh_edition.ZH).as_posix()})" in chinese, path.name
    assert "](zh-CN/TEACHING.md)" in chinese and "](zh-CN/GLOSSARY.md)" in chinese
    for heading in ("## Set up and open the lessons", "## Set up and run the tests"):
        [command] = fenced(english.split(heading)[1].split("\n## ")[0])[:1]
        assert command in fenced(chinese), f"README.zh-CN.md lacks the command under {heading!r}: {command}"
    assert len(chinese_pages()) >= 30


def test_count_reads_only_the_prose(tmp_path):
    path = tmp_path / "x.ipynb"
    zh_edition.write(path, notebook(md("a", "批量归一化 BN"), code("c", "# 注释不算\nprint(1)")))
    assert zh_edition.chinese_characters(path) == 5


AXES = re.compile(r"横轴|纵轴|图例|x 轴|y 轴|坐标轴")  # the words a reading of a figure's axes and legend uses


def figures_without_a_reading(path: Path) -> list[str]:
    """The figures (code cells with a PNG output) of a Chinese notebook whose nearest markdown cells,
    the one before and the one after, say nothing about its axes or legend."""
    cells = zh_edition.read(path)["cells"]
    missing = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or not any("image/png" in o.get("data", {}) for o in cell["outputs"]):
            continue
        before = next((c for c in reversed(cells[:i]) if c["cell_type"] == "markdown"), None)
        after = next((c for c in cells[i + 1 :] if c["cell_type"] == "markdown"), None)
        if not any(AXES.search(zh_edition.source(c)) for c in (before, after) if c is not None):
            missing.append(cell["id"])
    return missing


@pytest.mark.parametrize("english", CHINESE, ids=lambda p: p.stem)
def test_the_chinese_text_reads_every_figure(english):
    """Figures keep their English labels (the code is the English code), so the Chinese text beside each
    figure says what its axes and legend show (issue 30)."""
    missing = figures_without_a_reading(zh_edition.zh_path(english))
    assert not missing, f"figures with no reading of their axes or legend in the Chinese text beside them: {missing}"
