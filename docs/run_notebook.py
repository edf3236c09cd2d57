"""Execute docs/tutorial.ipynb top to bottom (nbclient), so the tutorial never goes stale.

    python docs/run_notebook.py            # run it; the executed copy goes to out/tutorial.ipynb
    python docs/run_notebook.py --strip    # remove outputs from the committed notebook

The committed notebook carries no outputs (small diffs); a run fails when a
cell raises, when the committed file has outputs, or when the run takes longer
than the per-cell timeout. ``make notebook`` runs it, and ``.ci/run`` calls that.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
EXECUTED = ROOT / "out" / "tutorial.ipynb"
CELL_TIMEOUT = 600  # seconds; a hung cell must not hang CI


def _has_outputs(nb) -> bool:
    return any(
        c.cell_type == "code" and (c.get("outputs") or c.get("execution_count")) for c in nb.cells
    )


def strip(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, path)


def run(path: Path, out: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    if _has_outputs(nb):
        print(f"{path}: has outputs; strip them with: python docs/run_notebook.py --strip")
        return 1
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )  # fmt: skip
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        print(f"{path}: a cell failed:\n{exc}")
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    cells = sum(c.cell_type == "code" for c in nb.cells)
    took = time.perf_counter() - start
    print(f"{path.relative_to(ROOT)}: {cells} code cells ran in {took:.1f} s; executed copy: "
          f"{out.relative_to(ROOT)}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strip", action="store_true", help="strip outputs in place and exit")
    ns = parser.parse_args(argv)
    if ns.strip:
        strip(NOTEBOOK)
        return 0
    return run(NOTEBOOK, EXECUTED)


if __name__ == "__main__":
    sys.exit(main())
