"""Small models the back-end tests share: a logistic regression and a two-layer MLP, their
parameters and data, and the tolerance each dtype's gradients are compared with."""

from __future__ import annotations

import numpy as np

RTOL = {np.float64: 1e-12, np.float32: 2e-5}


def logreg(w, X, y):
    z = X @ w
    return np.mean(np.logaddexp(0, z) - y * z)


def mlp(p, X, y):
    h = np.tanh(X @ p["W1"] + p["b1"])
    out = h @ p["W2"] + p["b2"]
    return np.mean((out[:, 0] - y) ** 2)


def mlp_params(dtype, d=6, hidden=8, seed=1):
    rng = np.random.default_rng(seed)
    return {
        "W1": (rng.standard_normal((d, hidden)) / np.sqrt(d)).astype(dtype),
        "b1": np.full(hidden, 0.1, dtype),
        "W2": (rng.standard_normal((hidden, 1)) / np.sqrt(hidden)).astype(dtype),
        "b2": np.zeros(1, dtype),
    }


def classification_data(dtype, n, d=6, seed=0):
    """``(X, y)``: standard-normal features, labels from the first two."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (X[:, 0] - X[:, 1] > 0).astype(dtype)
    return X, y
