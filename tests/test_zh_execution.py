"""Two Chinese notebooks run as a student opens them, from their own folders: lesson 00 and exercise 4.

The Chinese edition's code and outputs are proven equal to the English ones (tests/test_zh_edition.py),
so nbval does not re-run every Chinese notebook (they are outside pytest's testpaths). These two runs
show the edition works where it lives: lesson 00 run in ``zh-CN/notebooks/`` under strict nbval prints
what it committed; exercise 4's student notebook run in ``zh-CN/exercises/release/ex4_folding/``
answers the untouched stub in Chinese ("还没有实现"), its graded cells failing (the check's in Chinese
too), and a solution with "通过", every cell passing.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
from test_exercises import feedback_cells, solution_cells, without_markers

from bnlib.messages import say

ROOT = Path(__file__).resolve().parent.parent
ZH = ROOT / "zh-CN"
EXERCISE = "ex4_folding"


def test_lesson_00_runs_in_its_folder_and_prints_what_it_committed():
    lesson = ZH / "notebooks" / "00_start_here.ipynb"
    command = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider", "--nbval"]
    command += ["--nbval-current-env", "--nbval-sanitize-with", str(ROOT / "nbval_sanitize.cfg"), str(lesson)]
    run = subprocess.run(command, cwd=lesson.parent, capture_output=True, text=True, timeout=300)
    cells = sum(c["cell_type"] == "code" for c in json.loads(lesson.read_text(encoding="utf-8"))["cells"])
    assert run.returncode == 0, run.stdout[-4000:]
    assert re.search(rf"\b{cells} passed\b", run.stdout), run.stdout[-2000:]


def run_as_a_student(notebook):
    """Run the notebook in the exercise's release folder, as JupyterLab would, going on after errors."""
    folder = ZH / "exercises" / "release" / EXERCISE
    client = nbclient.NotebookClient(
        notebook, timeout=120, allow_errors=True, resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return notebook


def is_graded(cell) -> bool:
    return cell.metadata.get("nbgrader", {}).get("grade", False)


def errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def test_exercise_in_chinese_as_a_student_opens_it():
    path = ZH / "exercises" / "release" / EXERCISE / f"{EXERCISE}.ipynb"
    untouched = run_as_a_student(nbformat.read(path, as_version=4))
    [feedback] = feedback_cells(untouched)
    assert say("not_implemented", "zh") in feedback.outputs[0]["data"]["text/plain"]
    assert say("not_yet", "zh") in feedback.outputs[0]["data"]["text/plain"]
    graded = [c for c in untouched.cells if is_graded(c)]
    assert graded and all(errors(c) for c in graded), "a graded cell passes on the stub"
    check = graded[0]  # check_fold_batchnorm(fold, language="zh").assert_passed(): the message in Chinese
    assert (errors(check)[0].ename, errors(check)[0].evalue) == ("AssertionError", say("not_implemented", "zh"))
    failed = {e.ename for c in untouched.cells for e in errors(c)}
    assert failed == {"AssertionError", "NotImplementedError"}, failed  # the stub's own error, nothing else

    solved = nbformat.read(path, as_version=4)
    teacher = nbformat.read(ZH / "exercises" / "source" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    [solution], [stub] = solution_cells(teacher), solution_cells(solved)
    stub.source = without_markers(solution.source)
    ran = run_as_a_student(solved)
    [feedback] = feedback_cells(ran)
    said = feedback.outputs[0]["data"]["text/plain"]
    assert f"：{say('passed', 'zh')}。" in said and say("not_yet", "zh") not in said, said
    assert not any(errors(c) for c in ran.cells), [errors(c) for c in ran.cells if errors(c)]
