"""Run the lessons as CI and the benchmarks need: on other seeds, on another data split, timed.

Every lesson notebook has exactly one line ``SEEDS = (...)`` (a tuple of ints) and takes its data
split from ``bnlib.lab.data.SPLIT_SEED`` (environment variable ``BNLIB_SPLIT_SEED``). That is all
it takes to re-run a lesson on other seeds and another split without editing it:

    python tools/lesson_runs.py variants --group 1 --out DIR   # copies with the 2nd group of seeds

writes a copy of every lesson into ``DIR`` with ``SEEDS`` replaced by the lesson's seed group 1
(seeds ``n .. 2n-1`` for a lesson that shows ``n`` seeds). ``.ci/run`` executes those copies with
``BNLIB_SPLIT_SEED=1`` and checks that every assert still holds (outputs are not compared).
``benchmarks/seed_sweep.py`` and ``benchmarks/time_notebooks.py`` use :func:`execute`.

Every code cell must also be re-runnable: run twice in a row it prints the same thing, and the
cells after it do not change. ::

    python tools/lesson_runs.py twice --out DIR [NOTEBOOK ...]

writes a copy of every lesson (or of the ones named) in which each code cell is followed by an
identical copy carrying the same committed outputs. Strict nbval on those copies (``.ci/run`` does
it, with portable kernels) then checks both runs of every cell, and every later cell, against the
committed outputs; cells tagged ``nbval-ignore-output`` are exempt, as everywhere.
"""

import argparse
import ast
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SEEDS_LINE = re.compile(r"^SEEDS = (\(.*\))[ \t]*(#.*)?$", re.M)
IGNORE_TAG = "nbval-ignore-output"


def lesson_paths() -> list[Path]:
    """The lesson notebooks, ``notebooks/NN_topic.ipynb``, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def code_sources(notebook: dict) -> list[str]:
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def seeds_of(notebook: dict) -> tuple[int, ...]:
    """The tuple on the notebook's one ``SEEDS = (...)`` line.

    Raises:
        ValueError: no such line, more than one, or not a non-empty tuple of ints.
    """
    found = [m.group(1) for src in code_sources(notebook) for m in SEEDS_LINE.finditer(src)]
    if len(found) != 1:
        raise ValueError(f"expected exactly one line 'SEEDS = (...)' in the code cells, found {len(found)}")
    seeds = ast.literal_eval(found[0])
    if not (isinstance(seeds, tuple) and seeds and all(type(s) is int for s in seeds)):
        raise ValueError(f"SEEDS must be a non-empty tuple of ints, got {found[0]}")
    return seeds


def seed_group(notebook: dict, group: int) -> tuple[int, ...]:
    """Seed group ``group`` of a lesson that shows ``n`` seeds: ``(group*n, ..., group*n + n-1)``."""
    n = len(seeds_of(notebook))
    return tuple(range(group * n, (group + 1) * n))


def with_seeds(notebook: dict, seeds: tuple[int, ...]) -> dict:
    """A copy of ``notebook`` whose ``SEEDS = (...)`` line says ``seeds``, outputs cleared."""
    seeds_of(notebook)  # exactly one well-formed line
    copy = json.loads(json.dumps(notebook))
    for cell in copy["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        new = SEEDS_LINE.sub(lambda m: f"SEEDS = {tuple(seeds)!r}" + (f"  {m.group(2)}" if m.group(2) else ""), src)
        cell["source"] = new.splitlines(keepends=True)
        cell["outputs"], cell["execution_count"] = [], None
    return copy


def execute(notebook: dict, env: dict | None = None, timeout: int = 1800) -> tuple[dict, float]:
    """Execute ``notebook`` top to bottom in a fresh kernel (working directory ``notebooks/``).

    ``env`` entries are added to the kernel's environment (e.g. ``BNLIB_SPLIT_SEED``). Returns the
    executed notebook and the wall-clock seconds it took. Raises nbclient's
    ``CellExecutionError`` if a cell fails.
    """
    import nbformat
    from nbclient import NotebookClient

    node = nbformat.reads(json.dumps(notebook), as_version=4)  # sources as strings, as nbclient expects
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})  # the kernel inherits this environment
    try:
        client = NotebookClient(
            node, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        )
        start = time.perf_counter()
        client.execute()
        return node, time.perf_counter() - start
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def write_variants(out: Path, group: int) -> list[Path]:
    """Write every lesson, with its seed group ``group``, into ``out``; return the new paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in lesson_paths():
        notebook = read(path)
        target = out / path.name
        target.write_text(
            json.dumps(with_seeds(notebook, seed_group(notebook, group)), indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        written.append(target)
    return written


def twice(notebook: dict) -> dict:
    """A copy of ``notebook`` in which every code cell is immediately followed by a copy of itself.

    The copy keeps the source, tags and committed outputs and gets the id ``<id>-again``, so nbval
    compares the second run with the same outputs as the first.
    """
    copy = json.loads(json.dumps(notebook))
    cells = []
    for cell in copy["cells"]:
        cells.append(cell)
        if cell["cell_type"] == "code":
            again = json.loads(json.dumps(cell))
            if "id" in again:
                again["id"] = f"{cell['id']}-again"
            cells.append(again)
    copy["cells"] = cells
    return copy


def write_twice(out: Path, paths: list[Path] | None = None) -> list[Path]:
    """Write :func:`twice` of every lesson (or of ``paths``) into ``out``; return the new paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths or lesson_paths():
        target = out / Path(path).name
        target.write_text(json.dumps(twice(read(path)), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    variants = sub.add_parser("variants", help="write every lesson with another seed group")
    variants.add_argument("--group", type=int, required=True, help="seed group (0 is the committed one)")
    variants.add_argument("--out", type=Path, required=True)
    rerun = sub.add_parser("twice", help="write every lesson with each code cell run twice")
    rerun.add_argument("notebooks", nargs="*", type=Path, help="lessons to copy (default: all)")
    rerun.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "variants":
        for path in write_variants(args.out, args.group):
            print(f"{path.name}: SEEDS = {seeds_of(read(path))}")
    else:
        for path in write_twice(args.out, args.notebooks):
            print(f"{path.name}: {sum(c['cell_type'] == 'code' for c in read(path)['cells'])} code cells (each twice)")


if __name__ == "__main__":
    sys.exit(main())
