"""Every statistical claim of every lesson, over many seeds and two data splits, against its threshold.

A lesson checks each statistical claim with ``bnlib.lab.claims.claim(statement, value, op, bound)``
on the seeds it shows (its ``SEEDS`` line, usually three). This script re-runs each lesson with
other seed groups (seeds ``0..n-1``, ``n..2n-1``, ... until at least ``--min-seeds`` seeds are
covered) on each data split in ``--splits``, with ``BNLIB_CLAIMS=record`` so a failing claim is
recorded instead of stopping the lesson, and prints for each claim the distribution of its measured
value next to its threshold. A threshold is sound when every run holds it with a margin.

With ``--write`` it also writes each lesson's results to ``bnlib/lab/sweeps/NN.json`` (the seeds,
the splits, a hash of the lesson's code cells and every run's claims), the file the lesson reads
to show a distribution (``bnlib.lab.sweeps.show``) and ``tests/test_sweeps.py`` checks against the
lesson's current code. Re-run it whenever a lesson's code changes.

Run: python benchmarks/seed_sweep.py [NOTEBOOK ...] [--min-seeds 10] [--splits 0 1] [--jobs 2]
                                     [--json results.json] [--write]
"""

import argparse
import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import lesson_runs  # noqa: E402

from bnlib.lab import sweeps  # noqa: E402

MARKER = "<<claims>>"
DUMP = f"import json\nfrom bnlib.lab.claims import RECORD\nprint({MARKER!r} + json.dumps(RECORD))"


def run_once(path: str, group: int, split: int) -> dict:
    """Execute one lesson with seed group ``group`` on split ``split``; return its recorded claims."""
    notebook = lesson_runs.read(Path(path))
    seeds = lesson_runs.seed_group(notebook, group)
    variant = lesson_runs.with_seeds(notebook, seeds)
    variant["cells"].append(
        {
            "cell_type": "code",
            "id": "seed-sweep-claims",
            "metadata": {},
            "source": DUMP,
            "outputs": [],
            "execution_count": None,
        }
    )
    result = {"notebook": Path(path).name, "seeds": seeds, "split": split, "claims": [], "error": None}
    try:
        executed, seconds = lesson_runs.execute(variant, env={"BNLIB_CLAIMS": "record", "BNLIB_SPLIT_SEED": str(split)})
    except Exception as error:  # a cell failed: report it
        result["error"] = f"{type(error).__name__}: {str(error).strip().splitlines()[-1][:200]}"
        return result
    text = "".join(o.get("text", "") for o in executed.cells[-1].outputs if o.get("output_type") == "stream")
    result["claims"] = json.loads(text[text.index(MARKER) + len(MARKER) :])
    result["seconds"] = round(seconds, 1)
    return result


def write_results(path: Path, runs: list[dict], min_seeds: int) -> Path:
    """Write one lesson's runs to ``bnlib/lab/sweeps/NN.json``; return the file written."""
    notebook = lesson_runs.read(path)
    runs = sorted(runs, key=lambda r: (r["seeds"][0], r["split"]))
    out = sweeps.path_for(path.name[:2])
    out.parent.mkdir(exist_ok=True)
    content = {
        "notebook": path.name,
        "code_sha256": sweeps.code_sha256(notebook),
        "min_seeds": min_seeds,
        "seeds": sorted({s for r in runs for s in r["seeds"]}),
        "splits": sorted({r["split"] for r in runs}),
        "runs": [{k: r[k] for k in ("seeds", "split", "error", "claims")} for r in runs],
    }
    out.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def summarise(results: list[dict]) -> None:
    """Print, per notebook and claim, n, how many runs held, and min / median / max of the value."""
    for name in sorted({r["notebook"] for r in results}):
        runs = [r for r in results if r["notebook"] == name]
        seeds = sorted({s for r in runs for s in r["seeds"]})
        print(f"\n{name}: {len(runs)} runs, seeds {seeds[0]}..{seeds[-1]}, splits {sorted({r['split'] for r in runs})}")
        for r in runs:
            if r["error"]:
                print(f"  run seeds={r['seeds']} split={r['split']} FAILED: {r['error']}")
        claims: dict[tuple, list] = {}
        for r in runs:
            for c in r["claims"]:
                claims.setdefault((c["statement"], c["op"], c["bound"]), []).append(c)
        if not claims:
            print("  (no statistical claims recorded)")
            continue
        print(f"  {'claim':<70} {'threshold':>12} {'held':>7} {'min':>10} {'median':>10} {'max':>10}")
        for (statement, op, bound), cs in claims.items():
            values = np.array([c["value"] for c in cs], dtype=float)
            held = sum(c["held"] for c in cs)
            finite = values[~np.isnan(values)]
            stats = (
                [f"{v:10.4g}" for v in (finite.min(), np.median(finite), finite.max())]
                if finite.size
                else ["       nan"] * 3
            )
            flag = "" if held == len(cs) else "  <-- fails"
            threshold = f"{op:>2} {bound:<9.4g}" if op is not None else f"{'(record)':<12}"
            print(f"  {statement[:70]:<70} {threshold} {held:>3}/{len(cs):<3} {' '.join(stats)}{flag}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--min-seeds", type=int, default=10, help="cover at least this many seeds")
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 1], help="data-split seeds")
    parser.add_argument("--jobs", type=int, default=2, help="lessons executed at once")
    parser.add_argument("--json", type=Path, help="also write every run's claims to this file")
    parser.add_argument("--write", action="store_true", help="write bnlib/lab/sweeps/NN.json per lesson")
    args = parser.parse_args()
    paths = [p.resolve() for p in args.notebooks] or lesson_runs.lesson_paths()
    tasks = []
    for path in paths:
        n = len(lesson_runs.seeds_of(lesson_runs.read(path)))
        tasks += [(str(path), g, s) for g in range(math.ceil(args.min_seeds / n)) for s in args.splits]
    print(f"{len(tasks)} lesson runs, {args.jobs} at a time")
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_once, *zip(*tasks)))
    summarise(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.write:
        for path in paths:
            print("wrote", write_results(path, [r for r in results if r["notebook"] == path.name], args.min_seeds))


if __name__ == "__main__":
    main()
