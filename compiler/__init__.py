"""tracegrad's compiler: autodiff transformations, optimisation, code generation and rendering.

>>> import numpy as np
>>> from compiler import grad
>>> grad(lambda x: np.square(np.exp(np.square(x))))(0.5)  # doctest: +SKIP
3.297442541400256
"""

from compiler.autodiff import build_grad_graph
from compiler.compile import CompiledFunction, compile  # noqa: A004  (DESIGN's public name)
from compiler.drawing import render
from compiler.gradcheck import GradientCheckError, check_grad, numerical_grad
from compiler.linearization import linearize
from compiler.steps import step_through
from compiler.transforms import (
    elementwise_grad,
    grad,
    hessian,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    value_and_grad,
    vjp,
    vmap,
)

# what JAX users reach for beside grad, defined in tracer (they act while tracing)
from tracer import __version__, checkpoint, custom_jvp, custom_vjp, stop_gradient
from tracer.tree_util import tree_flatten, tree_leaves, tree_map, tree_structure, tree_unflatten

__all__ = [
    "CompiledFunction", "GradientCheckError", "build_grad_graph", "check_grad", "compile",
    "elementwise_grad", "grad", "hessian", "jacobian", "jvp", "numerical_grad", "render",
    "step_through", "value_and_grad", "vjp", "vmap", "__version__",
    "checkpoint", "custom_jvp", "custom_vjp", "jacfwd", "jacrev", "linearize", "stop_gradient",
    "tree_flatten", "tree_leaves", "tree_map", "tree_structure", "tree_unflatten",
]  # fmt: skip
