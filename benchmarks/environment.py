"""What the numbers were measured on: date, machine, load, library versions, BLAS kernels."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from benchmarks.common import Unavailable, load, version

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The model name from /proc/cpuinfo, with its widest SIMD extension."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    simd = next((f for f in ("avx512f", "avx2", "avx", "neon", "asimd") if f in flags), "")
    return f"{model} ({simd})" if simd else model


def memory_gib() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()  # fmt: skip
        return sha
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def blas_kernels() -> str:
    """NumPy's BLAS as threadpoolctl reports it (library, version, kernel, threads)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = []
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        where = "numpy" if "numpy" in info.get("filepath", "") else Path(info["filepath"]).name
        arch = info.get("architecture") or "?"
        parts.append(f"{where}: {info.get('internal_api')} {info.get('version')} "
                     f"kernel {arch}, {info.get('num_threads')} threads")  # fmt: skip
    return "; ".join(parts) or "none found"


def torch_info() -> str:
    try:
        torch = load("torch")
    except Unavailable as exc:
        return str(exc)
    blas = "MKL" if torch.backends.mkl.is_available() else "?"
    return f"{torch.__version__} ({blas}, {torch.get_num_threads()} threads)"


def jax_info() -> str:
    try:
        jax = load("jax")
    except Unavailable as exc:
        return str(exc)
    return f"{jax.__version__} / jaxlib {version('jaxlib')} ({jax.devices()[0].platform})"


def pytensor_info() -> str:
    """PyTensor's version and what its default and C modes are (see ``peers_pytensor``)."""
    from benchmarks import peers_pytensor

    try:
        text = peers_pytensor.describe()
    except Unavailable as exc:
        return str(exc)
    return f"{text}; numba {version('numba')}, llvmlite {version('llvmlite')}"


def peer_version(peer: str, dist: str) -> str:
    try:
        load(peer)
    except Unavailable as exc:
        return str(exc)
    return version(dist)


def collect() -> dict:
    env_blas = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} ({len(os.sched_getaffinity(0))} usable)",
        "memory": memory_gib(),
        "load_start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tracegrad": f"{version('tracegrad')} (commit {git_commit()})",
        "numpy": np.__version__,
        "blas": blas_kernels(),
        "openblas_env": ", ".join(f"{k}={v}" for k, v in env_blas.items()),
        "torch": torch_info(),
        "jax": jax_info(),
        "autograd": peer_version("autograd", "autograd"),
        "dezero": peer_version("dezero", "dezero"),
        "pytensor": pytensor_info(),
        "threadpoolctl": version("threadpoolctl"),
    }
