"""The traceable NumPy-like functions, one namespace: what operators, methods, NumPy dispatch
and derivative rules call. Each applies one primitive or is a small composite; each module
of ``tracer.primitives`` lists its functions in ``__all__``."""

from __future__ import annotations

from tracer.primitives.complex_parts import *  # noqa: F403
from tracer.primitives.contractions import *  # noqa: F403
from tracer.primitives.creation import *  # noqa: F403
from tracer.primitives.decompositions import *  # noqa: F403
from tracer.primitives.diagonals import *  # noqa: F403
from tracer.primitives.elementwise import *  # noqa: F403
from tracer.primitives.elementwise_math import *  # noqa: F403
from tracer.primitives.indexing import *  # noqa: F403
from tracer.primitives.inverses import *  # noqa: F403
from tracer.primitives.linalg import *  # noqa: F403
from tracer.primitives.markers import *  # noqa: F403
from tracer.primitives.matrix_functions import *  # noqa: F403
from tracer.primitives.norms import *  # noqa: F403
from tracer.primitives.reductions import *  # noqa: F403
from tracer.primitives.scans import *  # noqa: F403
from tracer.primitives.shape_ops import *  # noqa: F403
from tracer.primitives.shaping import *  # noqa: F403
from tracer.primitives.sorting import *  # noqa: F403
from tracer.primitives.special import *  # noqa: F403
from tracer.primitives.statistics import *  # noqa: F403
