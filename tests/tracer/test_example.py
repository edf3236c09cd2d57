"""The example ``examples/trace_listing.py`` runs, prints the listing and checks its numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trace_listing.py"


def test_trace_listing_example(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("trace_listing_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUT = tmp_path  # write the JSON under tmp_path, not out/
    module.main()
    text = capsys.readouterr().out
    assert text.startswith("graph loss(x: float64[32,4], w['W']: float64[4,3], w['b']: float64[3])")
    assert "%5 = tanh(%4) : float64[32,3]  # @ trace_listing.py:" in text
    assert "traced 1 time" in text
    assert (tmp_path / "trace_listing.json").exists()
