"""Choosing an algorithm for a spec, and running it.

For now ``"auto"`` picks the vectorised NumPy algorithm, which handles every
spec; the cost model and autotuning that choose among faster algorithms plug
in here without changing any caller.
"""

from __future__ import annotations

import numpy as np

from ._shapes import ConvSpec
from .algorithms import ALGORITHMS, Algorithm, get_algorithm

DEFAULT_ALGORITHM = "numpy"


def choose_algorithm(spec: ConvSpec, requested: str = "auto") -> Algorithm:
    """Return the algorithm that will compute ``spec``.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> choose_algorithm(conv_spec((1, 1, 8, 8), (1, 1, 3, 3))).name
    'numpy'
    """
    if requested == "auto":
        return ALGORITHMS[DEFAULT_ALGORITHM]
    algorithm = get_algorithm(requested)
    if not algorithm.supports(spec):
        raise ValueError(f"algorithm={requested!r} does not support this convolution: {spec}")
    return algorithm


def execute(x: np.ndarray, w: np.ndarray, spec: ConvSpec, requested: str = "auto") -> np.ndarray:
    """Run the forward convolution described by ``spec`` (no bias)."""
    return choose_algorithm(spec, requested).run(x, w, spec)
