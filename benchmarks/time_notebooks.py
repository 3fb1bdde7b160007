"""Execute every lesson notebook in a fresh kernel and print how long each one takes.

The series promises that each notebook runs in well under a minute on a 2-core laptop (the
budget is 45 s); this script measures it. Nothing is written back to the notebooks.

Run: python benchmarks/time_notebooks.py [NOTEBOOK ...]   (default: notebooks/*.ipynb)
"""
import argparse
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BUDGET_SECONDS = 45.0
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def execution_seconds(path: Path) -> float:
    """Wall-clock seconds to run ``path`` top to bottom in a new kernel, from its own folder."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    print(f"{'notebook':<48} {'seconds':>8}  within {BUDGET_SECONDS:.0f} s")
    total = 0.0
    for path in paths:
        seconds = execution_seconds(path)
        total += seconds
        print(f"{path.name:<48} {seconds:8.1f}  {'yes' if seconds < BUDGET_SECONDS else 'NO'}")
    print(f"{'total':<48} {total:8.1f}")


if __name__ == "__main__":
    main()
