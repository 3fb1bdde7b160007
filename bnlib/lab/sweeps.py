r"""The seed sweep's committed results, and how a lesson shows their distribution.

A lesson shows three seeds; its thresholds come from more. ``benchmarks/seed_sweep.py --write``
re-runs a lesson on at least ten seeds and two data splits and writes what every
:func:`~bnlib.lab.claims.claim` (and :func:`~bnlib.lab.claims.record`) measured to
``bnlib/lab/sweeps/NN.json``, together with the seeds, the splits and a SHA-256 of the lesson's
code cells (:func:`code_sha256`). ``tests/test_sweeps.py`` fails when a lesson's code no longer
matches the hash its results were made from, when a run failed, or when a claim did not hold in
every run.

A lesson then shows the distribution behind a sentence::

    sweeps.show("07", "BN + dropout minus plain, test accuracy (paired, per seed)")

which prints, for each named quantity, its threshold, in how many runs it held, and its min,
median and max over the runs. The file is found through the package, not the working directory,
so a copy of the lesson run elsewhere (CI's variants) reads the same results.

Lessons that import it: 01, 02, 03, 04, 05, 06, 07, 08, 09, 10.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

DIRECTORY = Path(__file__).with_name("sweeps")
"""Where the committed results live: one ``NN.json`` per lesson."""


def code_sha256(notebook: dict) -> str:
    """SHA-256 of a notebook's code cells, in order (markdown and outputs do not count)."""
    sources = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    return hashlib.sha256("\n# ---- next code cell ----\n".join(sources).encode("utf-8")).hexdigest()


def path_for(lesson: str) -> Path:
    """The results file of lesson ``lesson`` (its two-digit number, e.g. ``"07"``)."""
    if not (isinstance(lesson, str) and len(lesson) == 2 and lesson.isdigit()):
        raise ValueError(f"lesson must be a two-digit string such as '07', got {lesson!r}")
    return DIRECTORY / f"{lesson}.json"


def load(lesson: str) -> dict:
    """The committed sweep of ``lesson``: keys ``notebook``, ``code_sha256``, ``seeds``, ``splits``, ``runs``.

    Each run has ``seeds``, ``split``, ``error`` (None or the failing cell's message) and ``claims``,
    a list of ``{statement, value, op, bound, held}`` (``op`` and ``bound`` are None for a
    :func:`~bnlib.lab.claims.record`).

    Raises:
        FileNotFoundError: no sweep was committed for this lesson; the message says how to make one.
    """
    path = path_for(lesson)
    if not path.exists():
        raise FileNotFoundError(
            f"no seed sweep committed for lesson {lesson}: run "
            f"python benchmarks/seed_sweep.py --write notebooks/{lesson}_*.ipynb"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def values(lesson: str, statement: str) -> np.ndarray:
    """Every value recorded under ``statement`` in the sweep of ``lesson``, run by run, in run order.

    Raises:
        KeyError: no claim of that statement was recorded, with the statements that were.
    """
    runs = load(lesson)["runs"]
    found = [c["value"] for r in runs for c in r["claims"] if c["statement"] == statement]
    if not found:
        known = sorted({c["statement"] for r in runs for c in r["claims"]})
        raise KeyError(f"lesson {lesson}'s sweep recorded no {statement!r}; it recorded: {known}")
    return np.array(found, dtype=float)


def _describe(lesson: str, statement: str, runs: list[dict]) -> str:
    cs = [c for r in runs for c in r["claims"] if c["statement"] == statement]
    if not cs:
        values(lesson, statement)  # raises the KeyError that names what was recorded
    v = np.array([c["value"] for c in cs], dtype=float)
    spread = f"min {v.min():.3g}, median {np.median(v):.3g}, max {v.max():.3g} (n = {v.size})"
    if cs[0]["op"] is None:
        return f"  {statement}\n      measured: {spread}"
    held = sum(c["held"] for c in cs)
    return f"  {statement}\n      {cs[0]['op']} {cs[0]['bound']:.3g}: held {held}/{len(cs)}; {spread}"


def show(lesson: str, *statements: str) -> None:
    """Print the sweep's distribution of each named quantity of ``lesson`` (all of them if none named).

    During a sweep (``BNLIB_CLAIMS=record``) a lesson whose results are not committed yet, or a
    statement the committed results do not have yet, prints a note instead of failing, so the
    sweep that makes them can run.
    """
    try:
        sweep = load(lesson)
    except FileNotFoundError as missing:
        if os.environ.get("BNLIB_CLAIMS") == "record":
            print(f"(sweep in progress: {missing})")
            return
        raise
    runs = sweep["runs"]
    seeds = sweep["seeds"]
    splits = ", ".join(str(s) for s in sweep["splits"])
    print(f"seed sweep of lesson {lesson}: {len(runs)} runs, seeds {min(seeds)}..{max(seeds)}, data splits {splits}")
    names = statements or list(dict.fromkeys(c["statement"] for r in runs for c in r["claims"]))
    for statement in names:
        try:
            print(_describe(lesson, statement, runs))
        except KeyError:
            if os.environ.get("BNLIB_CLAIMS") != "record":
                raise
            print(f"  {statement}\n      (sweep in progress: not in the committed results yet)")
