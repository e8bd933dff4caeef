"""Small convolutions: one compiled single-thread loop for every kernel shape.

For a few hundred or thousand multiply-adds, the time goes into everything
around the arithmetic: NumPy's per-call overheads, waking worker threads,
compiling a kernel for one shape. This algorithm removes those. Its single
kernel is compiled once per dtype (not per kernel shape) and runs on the
calling thread. It reads the padded input as flat rows: every kernel tap is a
fixed offset from the window's origin, and every output position a fixed
origin, so the whole N-D convolution is three nested loops over offsets that
are computed once per spec and remembered. The arrays go in with their own
shapes (one compiled specialisation per dtype and rank): reshaping them flat
in Python would cost more than the arithmetic of a small call.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import numpy as np

from .._padding import pad
from .._shapes import ConvSpec
from ._jit import compile_source, is_cached
from .costs import DEFAULT_MACHINE, MachineModel, multiply_adds, padded_bytes
from .direct import SUPPORTED_DTYPES

# Compiled through ndconv's kernel cache like the direct kernels (see ._jit).
KERNEL_SOURCE = """\
def correlate(x, w, out, taps, origins, groups):
    per_group_in = w.shape[1]
    per_group_out = out.shape[1] // groups
    for n in range(out.shape[0]):
        for oc in range(out.shape[1]):
            first = (oc // per_group_out) * per_group_in
            target = out[n, oc].ravel()
            target[:] = 0
            for c in range(per_group_in):
                row = x[n, first + c].ravel()
                weights = w[oc, c].ravel()
                for q in range(origins.shape[0]):
                    origin = origins[q]
                    acc = target[q]
                    for t in range(taps.shape[0]):
                        acc += weights[t] * row[origin + taps[t]]
                    target[q] = acc
"""

_KERNEL: list[Callable[..., None]] = []  # the dispatcher, once compiled (or loaded)
_READY: set[tuple[np.dtype, int]] = set()  # (dtype, rank) it has run with in this process
_LOCK = threading.Lock()


def _kernel() -> Callable[..., None]:
    if _KERNEL:
        return _KERNEL[0]
    with _LOCK:
        if not _KERNEL:
            _KERNEL.append(compile_source(KERNEL_SOURCE, parallel=False))
        return _KERNEL[0]


@functools.lru_cache(maxsize=1024)
def flat_offsets(spec: ConvSpec) -> tuple[np.ndarray, np.ndarray]:
    """Offsets into a flattened padded input: of each kernel tap, of each window's origin.

    >>> from ndconv._shapes import conv_spec
    >>> taps, origins = flat_offsets(conv_spec((1, 1, 4, 5), (1, 1, 2, 2), stride=(1, 2)))
    >>> taps.tolist(), origins.tolist()
    ([0, 1, 5, 6], [0, 2, 5, 7, 10, 12])
    """
    padded = spec.padded_spatial
    # Elements between neighbours along each axis of the flattened padded input.
    steps = np.cumprod((*padded[1:], 1)[::-1])[::-1]
    taps = np.zeros(1, dtype=np.int64)
    origins = np.zeros(1, dtype=np.int64)
    for step, k, d, n, s in zip(steps, spec.kernel, spec.dilation, spec.out_spatial, spec.stride):
        taps = (taps[:, None] + np.arange(k) * d * step).ravel()
        origins = (origins[:, None] + np.arange(n) * s * step).ravel()
    taps.flags.writeable = origins.flags.writeable = False
    return taps, origins


@functools.lru_cache(maxsize=1024)
def _layout(spec: ConvSpec) -> tuple[bool, tuple[int, ...], np.ndarray, np.ndarray]:
    """Whether to pad, the output's shape, the tap and origin offsets: one lookup per call."""
    padding = any(lo or hi for lo, hi in spec.padding)
    return (padding, (spec.batch, spec.out_channels, *spec.out_spatial), *flat_offsets(spec))


def correlate_small(
    x: np.ndarray, w: np.ndarray, spec: ConvSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature maps of ``x`` under ``w`` by one single-thread loop over flat offsets.

    Same contract as :func:`ndconv.algorithms.reference.correlate_reference`.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> image = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> kernel = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    >>> correlate_small(image, kernel, conv_spec(image.shape, kernel.shape))[0, 0, 0]
    array([-5., -5., -5.])
    """
    # Everything here runs on every small call, so per-spec work is looked up, not redone.
    padding, out_shape, taps, origins = _layout(spec)
    if out is None:
        out = np.empty(out_shape, dtype=x.dtype)
    if padding:
        x = pad(x, spec.padding, spec.padding_mode)
    elif not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)  # the kernel views each channel as one flat row
    if not w.flags.c_contiguous:
        w = np.ascontiguousarray(w)
    (_KERNEL[0] if _KERNEL else _kernel())(x, w, out, taps, origins, spec.groups)
    _READY.add((out.dtype, out.ndim))
    return out


def supports_small(spec: ConvSpec) -> bool:
    """Whether the small kernel handles ``spec`` (dtype numba can compile)."""
    return spec.dtype in SUPPORTED_DTYPES


def small_setup(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """One-time cost before the kernel runs in ``spec``'s dtype: compile or cache load."""
    if (spec.dtype, spec.ndim + 2) in _READY:
        return 0.0
    if is_cached(KERNEL_SOURCE, parallel=False):
        return machine.cached_load_seconds
    return machine.compile_seconds


def small_cost(spec: ConvSpec, machine: MachineModel = DEFAULT_MACHINE) -> float:
    """Scalar multiply-adds on one thread, plus the padded copy and the call itself."""
    scale = spec.dtype.itemsize / 4 * (2 if spec.dtype.kind == "c" else 1)
    return (
        multiply_adds(spec) * machine.small_seconds_per_mac * scale
        + padded_bytes(spec) * machine.copy_seconds_per_byte
        + machine.small_seconds_per_call
    )
