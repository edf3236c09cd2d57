"""Smoke test of an installed tracegrad, run from outside the source tree (`make smoke`).

Checks what a user gets from `pip install tracegrad`: every subpackage imports
from site-packages, gradients and compiled code give the right numbers, a PNG is
drawn with no system Graphviz (the graphviz-pure dependency), and the
`tracegrad` console script works. Exits non-zero on the first failure.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

import compiler
import tracer
from compiler import compile, grad, render
from compiler.drawing.graphviz_runner import find_renderer

PNG = b"\x89PNG\r\n\x1a\n"


def f(x):
    return np.square(np.exp(np.square(x)))


def main() -> None:
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    for module in (tracer, compiler):
        where = Path(module.__file__).resolve()
        assert site in where.parents, f"{module.__name__} imported from {where}, not {site}"
    version = importlib.metadata.version("tracegrad")
    assert tracer.__version__ == compiler.__version__ == version, (tracer.__version__, version)

    got = grad(f)(0.5)
    assert abs(got - 3.297442541400256) < 1e-12, got
    x = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_allclose(compile(f)(x), f(x), rtol=1e-15)
    assert "def f(x):" in compile(f).source(x)

    renderer = find_renderer()
    assert renderer is not None, "no renderer: graphviz-pure should have come with tracegrad"
    with tempfile.TemporaryDirectory() as tmp:
        out = render(f, 0.5, backward=True).render(Path(tmp, "chain"), format="png")
        assert Path(out).read_bytes().startswith(PNG), out

        target = Path(tmp, "model.py")
        target.write_text("import numpy as np\n\ndef f(x):\n    return np.sum(np.tanh(x))\n")
        scripts = Path(sysconfig.get_paths()["scripts"])
        exe = str(scripts / "tracegrad")
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
        assert proc.stdout.strip() == f"tracegrad {version}", proc.stdout
        png = Path(tmp, "model.png")
        only_venv = dict(os.environ, PATH=str(scripts))  # no system dot: graphviz-pure draws
        proc = subprocess.run(
            [exe, "render", f"{target}:f", "--arg", "f64[3]", "--backward", "-o", str(png)],
            capture_output=True, text=True, env=only_venv, cwd=tmp,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert png.read_bytes().startswith(PNG)
    print(f"smoke: tracegrad {version} from {site}: grad, compile, render ({renderer.kind}), "
          "console script: ok")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
