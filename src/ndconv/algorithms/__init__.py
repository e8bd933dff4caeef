"""The table of convolution algorithms.

Every algorithm computes the same thing with the same signature::

    run(x, w, spec, out=None) -> out

``x`` is the unpadded input ``(N, C_in, *in_spatial)`` and ``w`` the weight
``(C_out, C_in // groups, *kernel)``, both already in the compute dtype;
``spec`` is the checked :class:`~ndconv._shapes.ConvSpec` (padding, padding
mode, stride, dilation, groups). The result is ``(N, C_out, *out_spatial)``
without bias, written into ``out`` when it is given (C-contiguous, the compute
dtype, that shape) and returned. Algorithms only see real work: ``ndconv.planner.run_algorithm``
answers empty outputs and zero input channels with zeros itself. Transposed
convolutions and gradients are expressed as forward convolutions, so each
algorithm serves them too.

The planner, the tests and the benchmarks all iterate over :data:`ALGORITHMS`.

>>> sorted(ALGORITHMS)
['direct', 'fft', 'gemm', 'numpy', 'reference', 'small', 'winograd']
>>> get_algorithm("refernce")
Traceback (most recent call last):
ValueError: algorithm='refernce' is not valid; expected one of ... (did you mean 'reference'?)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._shapes import ConvSpec, check_choice
from .costs import (
    direct_cost,
    direct_workspace,
    reference_cost,
    reference_workspace,
    small_workspace,
    vectorized_cost,
    vectorized_workspace,
)
from .direct import correlate_direct, setup_seconds, supports_direct
from .fft import correlate_fft, fft_cost, fft_guard, fft_workspace
from .gemm import correlate_gemm, gemm_cost, gemm_setup, gemm_workspace, supports_gemm
from .reference import correlate_reference
from .small import correlate_small, small_cost, small_setup, supports_small
from .vectorized import correlate_vectorized
from .winograd import (
    correlate_winograd,
    supports_winograd,
    winograd_cost,
    winograd_guard,
    winograd_setup,
    winograd_workspace,
)

RunFunction = Callable[[np.ndarray, np.ndarray, ConvSpec, "np.ndarray | None"], np.ndarray]


def _nothing_to_set_up(spec: ConvSpec) -> float:
    return 0.0


@dataclass(frozen=True)
class Algorithm:
    """One way to compute a convolution.

    Attributes
    ----------
    name : str
        The value users pass as ``algorithm=``.
    run : callable
        ``run(x, w, spec, out=None) -> out``, the contract in this module's docstring.
    supports : callable
        ``supports(spec) -> bool``: whether ``run`` handles this spec.
    cost : callable
        ``cost(spec) -> float``: estimated seconds, for ranking (see ``costs``).
    workspace : callable
        ``workspace(spec) -> int``: bytes allocated beyond the output.
    setup : callable
        ``setup(spec) -> float``: one-time seconds before ``run`` can start
        (compiling a kernel), 0 once it is ready.
    guard : callable or None
        ``guard(x, w, spec) -> str | None``: for algorithms whose result is
        only trusted on some data (FFT), the reason these arrays must not go
        through it, or None. ``"auto"`` runs the guard on the caller's arrays
        and falls back to the best unguarded algorithm when it objects.
    spreads_nonfinite : bool
        Whether one NaN or Inf can reach outputs whose window does not cover
        it (FFT mixes every value into every output; Winograd a tile's).
        The planner then never lets non-finite data through it, even when it
        is requested by name: a NaN or Inf in ``x`` or ``w`` sends the call
        to the best algorithm that keeps them local (``Plan.fallback``). The
        guard of such an algorithm must refuse non-finite data itself, since
        ``"auto"`` asks only the guard.
    summary : str
        One line for listings.
    """

    name: str
    run: RunFunction
    supports: Callable[[ConvSpec], bool]
    cost: Callable[[ConvSpec], float]
    workspace: Callable[[ConvSpec], int]
    summary: str
    setup: Callable[[ConvSpec], float] = _nothing_to_set_up
    guard: Callable[[np.ndarray, np.ndarray, ConvSpec], str | None] | None = None
    spreads_nonfinite: bool = False


def _any_spec(spec: ConvSpec) -> bool:
    return True


ALGORITHMS: dict[str, Algorithm] = {
    algorithm.name: algorithm
    for algorithm in (
        Algorithm(
            "reference",
            correlate_reference,
            _any_spec,
            reference_cost,
            reference_workspace,
            "one dot product per output element; the readable oracle",
        ),
        Algorithm(
            "direct",
            correlate_direct,
            supports_direct,
            direct_cost,
            direct_workspace,
            "numba-compiled loops, kernel taps unrolled, vectorised along output rows",
            setup=setup_seconds,
        ),
        Algorithm(
            "small",
            correlate_small,
            supports_small,
            small_cost,
            small_workspace,
            "one compiled single-thread loop over flat tap offsets, for small problems",
            setup=small_setup,
        ),
        Algorithm(
            "fft",
            correlate_fft,
            _any_spec,
            fft_cost,
            fft_workspace,
            "products of scipy.fft spectra, for large kernels; guarded (see fft_guard)",
            guard=fft_guard,
            spreads_nonfinite=True,
        ),
        Algorithm(
            "gemm",
            correlate_gemm,
            supports_gemm,
            gemm_cost,
            gemm_workspace,
            "im2col tiles in a bounded buffer, then BLAS matrix products (many channels)",
            setup=gemm_setup,
        ),
        Algorithm(
            "numpy",
            correlate_vectorized,
            _any_spec,
            vectorized_cost,
            vectorized_workspace,
            "NumPy strided views and batched matmul, looping over the shorter axis",
        ),
        Algorithm(
            "winograd",
            correlate_winograd,
            supports_winograd,
            winograd_cost,
            winograd_workspace,
            "F(4x4,3x3) or F(2x2,3x3) minimal filtering, 3x3 stride 1; guarded (see "
            "winograd_guard)",
            setup=winograd_setup,
            guard=winograd_guard,
            spreads_nonfinite=True,
        ),
    )
}


def get_algorithm(name: object) -> Algorithm:
    """Return the registered algorithm called ``name`` (``"auto"`` is the planner's)."""
    check_choice(name, ("auto", *sorted(ALGORITHMS)), "algorithm")
    if name == "auto":
        raise ValueError("algorithm='auto' is resolved by ndconv.planner, not looked up")
    return ALGORITHMS[name]  # type: ignore[index]
