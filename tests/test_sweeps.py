"""The committed seed sweeps match the lessons they were made from, and every claim held in them.

Each lesson that makes a statistical claim (``bnlib.lab.claims.claim``) has its thresholds from a
sweep over at least ten seeds and two data splits, committed as ``bnlib/lab/sweeps/NN.json`` by
``benchmarks/seed_sweep.py --write``. A change to a lesson's code makes its results stale: this
test then says which lesson to re-sweep.
"""

import sys
from pathlib import Path

import pytest

from bnlib.lab import sweeps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import lesson_runs  # noqa: E402

LESSONS = lesson_runs.lesson_paths()


def makes_claims(path):
    return any("claim(" in src or "record(" in src for src in lesson_runs.code_sources(lesson_runs.read(path)))


@pytest.mark.parametrize("path", [p for p in LESSONS if makes_claims(p)], ids=lambda p: p.stem)
def test_sweep_is_committed_and_current(path):
    sweep = sweeps.load(path.name[:2])
    assert sweep["notebook"] == path.name
    assert sweep["code_sha256"] == sweeps.code_sha256(lesson_runs.read(path)), (
        f"{path.name}'s code changed since its sweep: python benchmarks/seed_sweep.py --write notebooks/{path.name}"
    )
    assert len(sweep["seeds"]) >= 10 and len(sweep["splits"]) >= 2, (sweep["seeds"], sweep["splits"])
    assert all(r["error"] is None for r in sweep["runs"]), [r["error"] for r in sweep["runs"] if r["error"]]
    pairs = {(r["seeds"][0], r["split"]) for r in sweep["runs"]}
    assert len(pairs) == len(sweep["runs"]), "each seed group and split once"
    failed = sorted({c["statement"] for r in sweep["runs"] for c in r["claims"] if not c["held"]})
    assert not failed, f"claims that did not hold in every run of the sweep: {failed}"
    assert all(r["claims"] for r in sweep["runs"]), "every run recorded its claims"


def test_every_committed_sweep_belongs_to_a_lesson():
    names = {p.name[:2] for p in LESSONS}
    assert {p.stem for p in sweeps.DIRECTORY.glob("*.json")} <= names


def test_hash_is_of_code_cells_only():
    notebook = {
        "cells": [
            {"cell_type": "code", "source": ["x = 1\n", "y = 2"], "outputs": [1]},
            {"cell_type": "markdown", "source": "prose"},
        ]
    }
    h = sweeps.code_sha256(notebook)
    notebook["cells"][1]["source"] = "other prose"
    notebook["cells"][0]["outputs"] = []
    assert sweeps.code_sha256(notebook) == h
    notebook["cells"][0]["source"] = "x = 1\ny = 3"
    assert sweeps.code_sha256(notebook) != h


def test_show_prints_the_distribution(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sweeps, "DIRECTORY", tmp_path)
    runs = [
        {"seeds": [3 * g, 3 * g + 1, 3 * g + 2], "split": s, "error": None,
         "claims": [{"statement": "gap", "value": v, "op": ">", "bound": 0.1, "held": v > 0.1},
                    {"statement": "acc", "value": 0.9, "op": None, "bound": None, "held": True}]}
        for g, s, v in [(0, 0, 0.2), (0, 1, 0.3), (1, 0, 0.5), (1, 1, 0.05)]
    ]  # fmt: skip
    (tmp_path / "07.json").write_text(
        sweeps.json.dumps({"notebook": "07_x.ipynb", "seeds": list(range(6)), "splits": [0, 1], "runs": runs})
    )
    sweeps.show("07", "gap", "acc")
    out = capsys.readouterr().out
    assert "seed sweep of lesson 07: 4 runs, seeds 0..5, data splits 0, 1" in out
    assert "> 0.1: held 3/4; min 0.05, median 0.25, max 0.5 (n = 4)" in out
    assert "measured: min 0.9, median 0.9, max 0.9 (n = 4)" in out
    assert list(sweeps.values("07", "gap")) == [0.2, 0.3, 0.5, 0.05]
    with pytest.raises(KeyError, match=r"recorded no 'gapp'; it recorded: \['acc', 'gap'\]"):
        sweeps.show("07", "gapp")


def test_missing_sweep_says_how_to_make_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sweeps, "DIRECTORY", tmp_path)
    monkeypatch.delenv("BNLIB_CLAIMS", raising=False)
    with pytest.raises(FileNotFoundError, match=r"seed_sweep.py --write notebooks/04_\*.ipynb"):
        sweeps.show("04")
    monkeypatch.setenv("BNLIB_CLAIMS", "record")  # during the first sweep: a note, not a failure
    sweeps.show("04")
    assert "sweep in progress" in capsys.readouterr().out


def test_a_new_statement_during_a_sweep_is_a_note(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sweeps, "DIRECTORY", tmp_path)
    (tmp_path / "05.json").write_text(
        sweeps.json.dumps({"notebook": "05_x.ipynb", "seeds": [0], "splits": [0], "runs": [{"claims": []}]})
    )
    monkeypatch.setenv("BNLIB_CLAIMS", "record")
    sweeps.show("05", "a claim the lesson has just added")
    assert "not in the committed results yet" in capsys.readouterr().out
    monkeypatch.delenv("BNLIB_CLAIMS")
    with pytest.raises(KeyError, match="a claim the lesson has just added"):
        sweeps.show("05", "a claim the lesson has just added")
    with pytest.raises(ValueError, match="two-digit"):
        sweeps.path_for("7")
