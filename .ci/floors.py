"""Print the declared dependency floors as exact pins, one a line, for `make test-floors`.

Reads ``[project] dependencies`` from pyproject.toml and turns each ``NAME>=X``
into ``NAME==X`` (environment markers kept), so the floors venv gets exactly the
minimums the package claims to work with. A dependency without a ``>=`` floor is
an error: every floor must be tested.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]


def dependencies() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        return tomllib.loads(text)["project"]["dependencies"]
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    return re.findall(r'^\s*"([^"]+)",', block, re.M)


def pin(requirement: str) -> str:
    spec, sep, marker = requirement.partition(";")
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][A-Za-z0-9.]*)\s*", spec)
    if not m:
        raise SystemExit(f"floors.py: {requirement!r} has no NAME>=VERSION floor to test")
    return f"{m.group(1)}=={m.group(2)}" + (f"; {marker.strip()}" if sep else "")


if __name__ == "__main__":
    sys.stdout.write("".join(pin(r) + "\n" for r in dependencies()))
