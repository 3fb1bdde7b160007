"""The exercises, graded as a teacher would grade them, offline, with nbgrader's Python API.

In a temporary course folder: generate every student version from exercises/source and check the
committed exercises/release is up to date; check the released notebooks stop at their stubs and that
no cell after the student's solution binds a name a student could use; then autograde, per exercise,
the corpus solutions (tests/exercise_corpus.py) where feedback and grade could part (the returned
tuple, the name clash, the in-place update) and one right and one wrong solution, and check that the
feedback cell said "passed" exactly when the grade is full marks. nbgrader's CLI reports some
failures only in its log, so the API's ``success`` flag and the gradebook are what is checked.

Both editions are graded so: the English course (exercises/) and the Chinese one (zh-CN/exercises/,
whose sources tools/zh_edition.py generates from the English with every feedback check called with
``language="zh"``). In each, the feedback a submission receives is the check's own message in the
edition's language, computed here by calling the check on the same solution.

The corpus itself goes through the feedback checks in tests/test_exercise_corpus.py (no kernel).
"""

import ast
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from exercise_corpus import AUTOGRADED, CORPUS, FUNCTIONS
from nbgrader import apps as nbgrader_apps
from nbgrader.api import Gradebook
from test_exercise_corpus import function_of

from bnlib import checks
from bnlib.messages import say

pytestmark = pytest.mark.filterwarnings("ignore:Object of type .* not in session")  # inside nbgrader's gradebook

EXERCISES = Path(__file__).resolve().parent.parent / "exercises"
EDITIONS = {"en": EXERCISES, "zh": EXERCISES.parent / "zh-CN" / "exercises"}  # language -> course folder
ASSIGNMENTS = sorted(p.name for p in (EXERCISES / "source").iterdir() if p.is_dir())
MAX_SCORE = 4.0
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


@pytest.fixture(scope="module", params=sorted(EDITIONS))
def course(request, tmp_path_factory):
    """A course folder with one edition's source notebooks, every assignment generated; returns
    (root, api, language)."""
    language = request.param
    root = tmp_path_factory.mktemp(f"course_{language}")
    shutil.copytree(EDITIONS[language] / "source", root / "source")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]  # nbgrader's kernels
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "batchnorm-hands-on"
    c.ClearSolutions.code_stub = {"python": STUB}
    api = nbgrader_apps.NbGraderAPI(config=c)
    for assignment in ASSIGNMENTS:
        result = api.generate_assignment(assignment)
        assert result["success"], result.get("error") or result.get("log")
    return root, api, language


def notebook_path(folder: Path, assignment: str) -> Path:
    return folder / assignment / f"{assignment}.ipynb"


def solution_cells(notebook):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]


def feedback_cells(notebook):
    return [
        c
        for c in notebook.cells
        if c.cell_type == "code" and c.source.startswith("check_") and "nbgrader" not in c.metadata
    ]


def test_there_are_five_exercises_in_each_edition():
    for folder in EDITIONS.values():
        assert sorted(p.name for p in (folder / "source").iterdir() if p.is_dir()) == ASSIGNMENTS
    assert ASSIGNMENTS == [
        "ex1_batchnorm_forward",
        "ex2_running_statistics",
        "ex3_batchnorm_backward",
        "ex4_folding",
        "ex5_layernorm",
    ]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_up_to_date(course, assignment):
    root, _, language = course
    folder = EDITIONS[language]
    fresh = json.loads(notebook_path(root / "release", assignment).read_text())
    committed = json.loads(notebook_path(folder / "release", assignment).read_text())
    assert committed == fresh, (
        f"{folder.relative_to(EXERCISES.parent)}/release/{assignment} is out of date: run "
        f"`nbgrader generate_assignment {assignment} --force` in {folder.relative_to(EXERCISES.parent)}/"
    )


@pytest.mark.parametrize("language", sorted(EDITIONS))
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_stops_at_the_stub(assignment, language):
    """The student's version: every solution cell ends in the stub, no hidden test or solution is left, and
    the feedback cell, run on the stub, says "not implemented yet" in the edition's language."""
    released = nbformat.read(notebook_path(EDITIONS[language] / "release", assignment), as_version=4)
    text = "\n".join(c.source for c in released.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    stubs, feedback = solution_cells(released), feedback_cells(released)
    assert stubs and len(feedback) == len(stubs)
    namespace = {"np": np}
    for stub, check in zip(stubs, feedback):
        assert "# YOUR CODE HERE" in stub.source and stub.source.rstrip().endswith("raise NotImplementedError()")
        exec(stub.source, namespace)  # noqa: S102 -- the released stub: a def whose body raises
        result = eval(check.source, vars(checks), namespace)  # noqa: S307 -- the feedback cell, e.g. check_fold_batchnorm(fold)
        assert result.mistake == "not_implemented" and result.message == say("not_implemented", language)


def bound_names(tree: ast.Module) -> set:
    """Names a cell binds at the top level of the kernel (assignments, defs, imports, loop targets)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


@pytest.mark.parametrize("language", sorted(EDITIONS))
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_cells_after_the_solution_cannot_touch_the_students_names(assignment, language):
    """Between the student's code and the grade, the notebook binds only private names (``_see_it``...):
    a student's helper named ``axes``, ``x`` or ``result`` stays what the student made it."""
    source = nbformat.read(notebook_path(EDITIONS[language] / "source", assignment), as_version=4)
    first = next(i for i, c in enumerate(source.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    for c in source.cells[first:]:
        if c.cell_type != "code" or c.metadata.get("nbgrader", {}).get("solution"):
            continue
        public = {n for n in bound_names(ast.parse(c.source)) if not n.startswith("_")}
        assert not public, f"a cell after the solution binds {sorted(public)}:\n{c.source}"


def corpus_solution(assignment: str, name: str) -> tuple:
    """The corpus row called ``name`` for ``assignment``, the function name its code defines, and its check."""
    for key, (check, rows) in CORPUS.items():
        if key.split("/")[0] == assignment:
            for row in rows:
                if row.name == name:
                    return row, FUNCTIONS[check], check
    raise KeyError(name)


def without_markers(solution: str) -> str:
    """A teacher's solution cell as a student who solved it would have it: nbgrader's markers taken out."""
    return re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", solution + "\n", flags=re.M)


def submit(root: Path, student: str, assignment: str, code: str, function: str) -> None:
    """Fill the released solution cell that defines ``function`` with ``code``; put it where nbgrader collects it."""
    notebook = nbformat.read(notebook_path(root / "release", assignment), as_version=4)
    teacher = nbformat.read(notebook_path(root / "source", assignment), as_version=4)
    for cell, solved in zip(solution_cells(notebook), solution_cells(teacher)):
        if f"def {function}(" in cell.source:
            cell.source = code.strip()
        else:  # exercise 5's other function: the teacher's solution, without nbgrader's markers
            cell.source = without_markers(solved.source)
    target = notebook_path(root / "submitted" / student, assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def printed(cell) -> str:
    """What a feedback cell showed: its result's text (a warning printed before it is left aside); a cell
    that showed no result fails the test with what it did show."""
    results = [o["data"]["text/plain"] for o in cell.outputs if o.get("output_type") == "execute_result"]
    assert results, f"the feedback cell {cell.source!r} showed no result: {cell.outputs}"
    return results[0]


AUTOGRADE_CASES = [(a, name) for a, names in AUTOGRADED.items() for name in names]


def test_every_exercise_autogrades_a_right_and_a_wrong_solution():
    for assignment in ASSIGNMENTS:
        rows = [corpus_solution(assignment, name)[0] for name in AUTOGRADED[assignment]]
        assert any(r.mistake is None for r in rows) and any(r.mistake is not None for r in rows), assignment
    grouped = {corpus_solution(a, n)[0].mistake for a, n in AUTOGRADE_CASES}
    assert {"returned_tuple", "in_place"} <= grouped  # the cases where feedback and grade could part
    assert any("name clash" in n for _, n in AUTOGRADE_CASES)


def test_feedback_passed_exactly_when_the_grade_is_full(course):
    """Autograde the corpus solutions listed in AUTOGRADED: the feedback cell said "passed" ⇔ full marks,
    a right solution gets both, a wrong one neither, and what the feedback cell printed is the check's
    message for that solution in the edition's language (the check called here, outside the kernel)."""
    root, api, language = course
    students = {}
    for k, (assignment, name) in enumerate(AUTOGRADE_CASES):
        row, function, check = corpus_solution(assignment, name)
        student = f"student{k:02d}"
        submit(root, student, assignment, row.code, function)
        students[student] = (assignment, row, check)
    for student, (assignment, *_) in students.items():
        result = api.autograde(assignment, student)
        assert result["success"], result.get("error") or result.get("log")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student, (assignment, row, check) in students.items():
            submission = gradebook.find_submission(assignment, student)
            graded = nbformat.read(notebook_path(root / "autograded" / student, assignment), as_version=4)
            said = [printed(c) for c in feedback_cells(graded)]
            passed = all(say("passed", language) in t and say("not_yet", language) not in t for t in said)
            full = submission.max_score == MAX_SCORE and submission.score == MAX_SCORE
            assert passed == full, (student, assignment, row.name, said, submission.score)
            assert passed == (row.mistake is None), (row.name, said)
            expected = str(getattr(checks, check)(function_of(row.code, check), language=language))
            assert expected in said, (row.name, said, expected)
            assert language == "zh" or row.mistake is None or any(row.phrase in text for text in said), (row.name, said)
