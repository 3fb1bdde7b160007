"""The exercises, graded as a teacher would grade them, offline, with nbgrader's Python API.

In a temporary course folder: generate every student version from exercises/source and check the
committed exercises/release is up to date; check the released notebooks stop at their stubs while
the source notebooks pass; then autograde, per exercise, one correct and one wrong submission and
check the scores. nbgrader's CLI reports some failures only in its log, so the API's ``success``
flag and the gradebook are what is checked.
"""

import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader import apps as nbgrader_apps
from nbgrader.api import Gradebook

pytestmark = pytest.mark.filterwarnings("ignore:Object of type .* not in session")  # inside nbgrader's gradebook

EXERCISES = Path(__file__).resolve().parent.parent / "exercises"
ASSIGNMENTS = sorted(p.name for p in (EXERCISES / "source").iterdir() if p.is_dir())
MAX_SCORE = 4.0

# One classic mistake per exercise, made in the teacher's own solution: (find, replace with).
MISTAKES = {
    "ex1_batchnorm_forward": ("np.sqrt(var + eps)", "(np.sqrt(var) + eps)"),  # eps outside the root
    "ex2_running_statistics": (" * m / (m - 1)", ""),  # biased running variance
    "ex3_batchnorm_backward": (" + dvar * 2 * (x - mu) / m", ""),  # no path through var
    "ex4_folding": ("s * (b - mean) + beta", "beta - s * mean"),  # forgets the bias b
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with the source notebooks, every assignment generated; returns (root, api)."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(EXERCISES / "source", root / "source")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]  # nbgrader's kernels
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "batchnorm-hands-on"
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    api = nbgrader_apps.NbGraderAPI(config=c)
    for assignment in ASSIGNMENTS:
        result = api.generate_assignment(assignment)
        assert result["success"], result.get("error") or result.get("log")
    return root, api


def notebook_path(folder: Path, assignment: str) -> Path:
    return folder / assignment / f"{assignment}.ipynb"


def test_there_are_four_exercises():
    assert ASSIGNMENTS == ["ex1_batchnorm_forward", "ex2_running_statistics", "ex3_batchnorm_backward", "ex4_folding"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_up_to_date(course, assignment):
    root, _ = course
    fresh = json.loads(notebook_path(root / "release", assignment).read_text())
    committed = json.loads(notebook_path(EXERCISES / "release", assignment).read_text())
    assert committed == fresh, (
        f"exercises/release/{assignment} is out of date: run "
        f"`nbgrader generate_assignment {assignment} --force` in exercises/"
    )


def run(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return notebook


def graded_cells(notebook):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_stops_at_the_stub_and_source_passes(course, assignment):
    root, _ = course
    released = run(notebook_path(root / "release", assignment))
    feedback = next(c for c in released.cells if c.cell_type == "code" and c.source.startswith("check_"))
    assert "not implemented yet" in feedback.outputs[0]["data"]["text/plain"]
    assert all(errors(c) for c in graded_cells(released)), "every graded cell fails on the stub"
    source = run(notebook_path(EXERCISES / "source", assignment))
    assert not any(errors(c) for c in source.cells if c.cell_type == "code")
    assert (
        "PASSED"
        in next(c for c in source.cells if c.cell_type == "code" and c.source.startswith("check_")).outputs[0]["data"][
            "text/plain"
        ]
    )


def solution_code(assignment: str) -> str:
    """The teacher's solution cell, without nbgrader's solution markers."""
    source = nbformat.read(notebook_path(EXERCISES / "source", assignment), as_version=4)
    cell = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("solution"))
    return re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", cell.source + "\n", flags=re.M)


def submit(root: Path, student: str, assignment: str, code: str) -> None:
    """Fill the released notebook's solution cell with ``code`` and put it where nbgrader collects it."""
    notebook = nbformat.read(notebook_path(root / "release", assignment), as_version=4)
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution"))
    cell.source = code
    target = notebook_path(root / "submitted" / student, assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograde_scores_a_correct_and_a_wrong_submission(course, assignment):
    root, api = course
    correct = solution_code(assignment)
    find, replace = MISTAKES[assignment]
    assert find in correct
    submit(root, "alice", assignment, correct)
    submit(root, "bob", assignment, correct.replace(find, replace))
    for student in ("alice", "bob"):
        result = api.autograde(assignment, student)
        assert result["success"], result.get("error") or result.get("log")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        alice = gradebook.find_submission(assignment, "alice")
        bob = gradebook.find_submission(assignment, "bob")
        assert alice.max_score == MAX_SCORE and alice.score == MAX_SCORE
        assert bob.score == 0.0, "the check (2 points) and the tests on new inputs (2 points) both fail"
