"""Benchmarks: ndconv against the convolutions installed beside it, on this machine.

``python -m ndconv.bench`` runs a fixed list of cases, one or more per regime of
the engine (single-channel images with small kernels, deep-learning layers,
1-D signals, 3-D volumes, large kernels, the backward pass, the seed's tiny
example). Each case times ``algorithm="auto"`` and every registered algorithm
that supports it, every peer library that is importable (OpenCV, PyTorch,
SciPy, NumPy) and a copy of the output's bytes (the memory-bandwidth floor).

Before timing, each peer's output is compared with ndconv's; a peer that
disagrees is reported as a mismatch and not timed. Candidates then run
round-robin, so a slow drift of the machine (turbo, other load) hits them
alike, and the table reports medians and ``ratio = best peer / ndconv``:
above 1 ndconv is faster.

>>> case = array_case("2d", "example", (16, 16), (3, 3), peers=())
>>> case.name, case.spec.output_shape
('2d-3x3-16', (1, 1, 16, 16))
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import __version__, conv, conv_grad, correlate, get_num_threads, set_num_threads
from ._adjoint import input_gradient_spec, weight_gradient_spec
from ._cache import write_atomically
from ._shapes import ConvSpec, conv_spec, correlate_padding
from .algorithms import ALGORITHMS
from .algorithms.costs import multiply_adds
from .planner import plan_spec

Arrays = dict[str, np.ndarray]
Output = np.ndarray | tuple[np.ndarray, ...]
Call = Callable[[], Output]

DTYPE = np.dtype(np.float32)
#: Agreement needed between a peer and ndconv: float32 sums of thousands of
#: terms, and FFT peers whose error is relative to the output's largest value.
RTOL = 1e-3
ATOL_OF_MAX = 1e-4
#: Each timed sample repeats a call until it lasts about this long (tiny cases).
MIN_SAMPLE_SECONDS = 2e-3
SLOW_SECONDS, SLOW_ROUNDS = 1.0, 3
VERSIONED_MODULES = ("numpy", "scipy", "numba", "torch", "cv2")


# ---------------------------------------------------------------------------
# Cases and peers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """Another library's way to compute a case's result.

    Attributes
    ----------
    name : str
        Label in the table, e.g. ``"cv2.filter2D"``.
    module : str
        Module that must be importable; otherwise the peer is left out.
    bind : callable
        ``bind(arrays) -> call``: prepares once (wraps arrays as tensors, flips
        a kernel) and returns the zero-argument call that is timed. Its result
        must be directly comparable with ndconv's (same shape and convention).

    Examples
    --------
    >>> p = Peer("numpy.copy", "numpy", lambda arrays: lambda: arrays["a"].copy())
    >>> p.bind({"a": np.ones(3)})()
    array([1., 1., 1.])
    """

    name: str
    module: str
    bind: Callable[[Arrays], Call]


@dataclass(frozen=True)
class Case:
    """One benchmark problem: its inputs, ndconv's call and the peers' calls.

    Attributes
    ----------
    name : str
        Unique label, matched by ``--cases``.
    regime : str
        Which regime of the engine the case stands for.
    spec : ConvSpec
        The forward convolution, for ``supports(spec)`` and the planner.
    flop : float
        Floating-point operations of the work (2 per multiply-add).
    build : callable
        ``build(rng) -> arrays``: the inputs, created once per case.
    bind : callable
        ``bind(arrays, algorithm) -> call``: ndconv's call with that algorithm.
    peers : tuple of Peer
        Other libraries computing the same result.
    backward : bool
        Whether the call is ``conv_grad`` of ``spec`` (two derived convolutions).

    Examples
    --------
    >>> case = layer_case(batch=1, channels=2, size=8, kernel=3)
    >>> case.name, case.flop
    ('dl-3x3-s1-c2-8', 4608.0)
    """

    name: str
    regime: str
    spec: ConvSpec
    flop: float
    build: Callable[[np.random.Generator], Arrays]
    bind: Callable[[Arrays, str], Call]
    peers: tuple[Peer, ...]
    backward: bool = False


def auto_choice(case: Case) -> str:
    """What ``algorithm="auto"`` runs for the case; for a backward case, for dx and dw.

    >>> auto_choice(layer_case(batch=1, channels=2, size=8, kernel=3, backward=True))
    'dx=...,dw=...'
    """
    if not case.backward:
        return plan_spec(case.spec).algorithm
    dx = plan_spec(input_gradient_spec(case.spec)).algorithm
    dw = plan_spec(weight_gradient_spec(case.spec)).algorithm
    return f"dx={dx},dw={dw}"  # one word: the text table splits columns on spaces


def _normal(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    return rng.standard_normal(tuple(shape), dtype=DTYPE)


def _flop(spec: ConvSpec) -> float:
    return 2.0 * multiply_adds(spec)


def _size_label(shape: Sequence[int]) -> str:
    """``4096`` for a square or cube, ``640x480`` otherwise."""
    return str(shape[0]) if len(set(shape)) == 1 else "x".join(map(str, shape))


def _crop(mode: str, shape: Sequence[int], kernel: Sequence[int]) -> tuple[slice, ...]:
    """Slices taking a centred "same" result (anchor ``k // 2``) to ``mode``."""
    if mode == "same":
        return tuple(slice(None) for _ in shape)
    return tuple(slice(k // 2, k // 2 + n - k + 1) for n, k in zip(shape, kernel))


def _cv2_filter2d(mode: str) -> Peer:
    def bind(arrays: Arrays) -> Call:
        import cv2

        a, k = arrays["a"], arrays["k"]
        crop = _crop(mode, a.shape, k.shape)
        return lambda: cv2.filter2D(a, -1, k, borderType=cv2.BORDER_CONSTANT)[crop]

    return Peer("cv2.filter2D", "cv2", bind)


def _ndimage_correlate(mode: str) -> Peer:
    def bind(arrays: Arrays) -> Call:
        from scipy import ndimage

        a, k = arrays["a"], arrays["k"]
        crop = _crop(mode, a.shape, k.shape)
        return lambda: ndimage.correlate(a, k, mode="constant")[crop]

    return Peer("scipy.ndimage.correlate", "scipy", bind)


def _signal(function: str, flip: bool) -> Callable[[str], Peer]:
    """A ``scipy.signal`` peer; ``flip`` turns a convolution into a correlation."""

    def peer(mode: str) -> Peer:
        def bind(arrays: Arrays) -> Call:
            from scipy import signal

            run = getattr(signal, function)
            a, k = arrays["a"], arrays["k"]
            kernel = np.ascontiguousarray(np.flip(k)) if flip else k
            return lambda: run(a, kernel, mode=mode)

        return Peer(f"scipy.signal.{function}", "scipy", bind)

    return peer


def _numpy_correlate(mode: str) -> Peer:
    def bind(arrays: Arrays) -> Call:
        a, k = arrays["a"], arrays["k"]
        return lambda: np.correlate(a, k, mode)

    return Peer("numpy.correlate", "numpy", bind)


def _torch_call(spec: ConvSpec) -> Callable[..., object]:
    """``torch.nn.functional.conv{n}d`` with the spec's parameters (symmetric padding)."""
    import torch.nn.functional as F

    run = getattr(F, f"conv{spec.ndim}d")
    padding = [lo for lo, _ in spec.padding]
    return lambda x, w, b=None: run(
        x, w, b, stride=spec.stride, padding=padding, dilation=spec.dilation, groups=spec.groups
    )


def _torch_forward(spec: ConvSpec, plain: bool) -> Peer:
    """PyTorch's forward conv; ``plain`` cases take unbatched single-channel arrays."""

    def bind(arrays: Arrays) -> Call:
        import torch

        x, w = (arrays["a"][None, None], arrays["k"][None, None]) if plain else (
            arrays["x"], arrays["w"])
        x_t, w_t, run = torch.from_numpy(x), torch.from_numpy(w), _torch_call(spec)

        def call() -> np.ndarray:
            with torch.no_grad():
                y = run(x_t, w_t).numpy()
            return y[0, 0] if plain else y

        return call

    return Peer(f"torch conv{spec.ndim}d", "torch", bind)


def _torch_backward(spec: ConvSpec) -> Peer:
    """PyTorch autograd's backward of conv with bias, forward done once outside the timing."""

    def bind(arrays: Arrays) -> Call:
        import torch

        x = torch.from_numpy(arrays["x"]).requires_grad_()
        w = torch.from_numpy(arrays["w"]).requires_grad_()
        b = torch.zeros(spec.out_channels, requires_grad=True)
        y = _torch_call(spec)(x, w, b)
        dy = torch.from_numpy(arrays["dy"])

        def call() -> tuple[np.ndarray, ...]:
            grads = torch.autograd.grad(y, (x, w, b), dy, retain_graph=True)
            return tuple(g.numpy() for g in grads)

        return call

    return Peer(f"torch conv{spec.ndim}d backward", "torch", bind)


def array_case(
    prefix: str,
    regime: str,
    shape: Sequence[int],
    kernel: Sequence[int],
    peers: Sequence[Callable[[str], Peer]],
    *,
    mode: str = "same",
) -> Case:
    """A case for ``ndconv.correlate(a, k, mode)`` on plain (single-channel) arrays.

    Parameters
    ----------
    prefix : str
        Start of the name; the kernel and input sizes are appended.
    regime : str
        Regime the case stands for.
    shape, kernel : sequence of int
        Sizes of the array and the kernel (odd kernels, so all peers centre alike).
    peers : sequence of callable
        Peer factories taking ``mode``, e.g. the module's ``_cv2_filter2d``;
        PyTorch's ``conv{n}d`` is always added.
    mode : {"same", "valid"}
        Output size, as for :func:`ndconv.correlate`.

    Returns
    -------
    Case

    Examples
    --------
    >>> array_case("1d", "signal", (100,), (7,), peers=()).name
    '1d-7-100'
    """
    spec = conv_spec((1, 1, *shape), (1, 1, *kernel), padding=correlate_padding(mode, kernel),
                     dtype=DTYPE)

    def build(rng: np.random.Generator) -> Arrays:
        return {"a": _normal(rng, shape), "k": _normal(rng, kernel)}

    def bind(arrays: Arrays, algorithm: str) -> Call:
        a, k = arrays["a"], arrays["k"]
        return lambda: correlate(a, k, mode, algorithm=algorithm)

    name = f"{prefix}-{'x'.join(map(str, kernel))}-{_size_label(shape)}"
    all_peers = (*(make(mode) for make in peers), _torch_forward(spec, plain=True))
    return Case(name, regime, spec, _flop(spec), build, bind, all_peers)


def layer_case(
    *,
    batch: int = 16,
    channels: int = 64,
    size: int = 56,
    kernel: int = 3,
    stride: int = 1,
    depthwise: bool = False,
    backward: bool = False,
) -> Case:
    """A 2-D deep-learning layer, ``C_in = C_out = channels``, padded to keep the size.

    Parameters
    ----------
    batch, channels, size : int
        Input ``(batch, channels, size, size)``.
    kernel, stride : int
        Square kernel and stride; padding is ``kernel // 2``.
    depthwise : bool
        ``groups = channels`` (one filter per channel).
    backward : bool
        Time ``ndconv.conv_grad`` (input, weight and bias gradients) instead
        of the forward pass.

    Returns
    -------
    Case

    Examples
    --------
    >>> layer_case(batch=2, channels=8, size=16, kernel=3, backward=True).name
    'bwd-3x3-s1-c8-16'
    """
    groups = channels if depthwise else 1
    params = {"stride": stride, "padding": kernel // 2, "groups": groups}
    spec = conv_spec((batch, channels, size, size),
                     (channels, channels // groups, kernel, kernel), **params, dtype=DTYPE)
    shape = "dw" if depthwise else ""
    name = f"{'bwd' if backward else 'dl'}-{shape}{kernel}x{kernel}-s{stride}-c{channels}-{size}"
    regime = "backward" if backward else "DL layer"

    def build(rng: np.random.Generator) -> Arrays:
        arrays = {"x": _normal(rng, spec.input_shape), "w": _normal(rng, spec.weight_shape)}
        if backward:
            arrays["dy"] = _normal(rng, spec.output_shape)
        return arrays

    def bind(arrays: Arrays, algorithm: str) -> Call:
        x, w = arrays["x"], arrays["w"]
        if backward:
            dy = arrays["dy"]
            return lambda: conv_grad(dy, x, w, **params, algorithm=algorithm)
        return lambda: conv(x, w, **params, algorithm=algorithm)

    peer = _torch_backward(spec) if backward else _torch_forward(spec, plain=False)
    flop = _flop(spec) * (2 if backward else 1)
    return Case(name, f"{regime} N={batch}", spec, flop, build, bind, (peer,), backward)


def default_cases(quick: bool = False) -> list[Case]:
    """The fixed list of cases, one or more per regime; ``quick`` shrinks every size.

    Parameters
    ----------
    quick : bool
        A reduced list with small sizes, for smoke tests (seconds, not minutes).

    Returns
    -------
    list of Case

    Examples
    --------
    >>> [c.name for c in default_cases(quick=True)][:3]
    ['2d-3x3-256', '2d-5x5-256', 'dl-3x3-s1-c16-28']
    """
    cv2, ndimage = _cv2_filter2d, _ndimage_correlate
    fft, oa = _signal("fftconvolve", flip=True), _signal("oaconvolve", flip=True)
    image_peers = (cv2, ndimage)
    if quick:
        layer = {"batch": 2, "channels": 16, "size": 28}
        return [
            array_case("2d", "2-D image, small kernel", (256, 256), (3, 3), image_peers),
            array_case("2d", "2-D image, small kernel", (256, 256), (5, 5), image_peers),
            layer_case(**layer, kernel=3),
            layer_case(**layer, kernel=3, depthwise=True),
            array_case("1d", "1-D signal", (100_000,), (7,), (_numpy_correlate, ndimage)),
            array_case("3d", "3-D volume", (32, 32, 32), (3, 3, 3), (ndimage,)),
            array_case("large", "large kernel", (256, 256), (31, 31), (cv2, fft, oa)),
            layer_case(**layer, kernel=3, backward=True),
            _seed_case(),
        ]
    return [
        *(
            array_case("2d", "2-D image, small kernel", (n, n), (k, k), image_peers)
            for n in (512, 1024, 2048, 4096)
            for k in (3, 5)
        ),
        layer_case(kernel=1),
        layer_case(kernel=3),
        layer_case(kernel=5),
        layer_case(kernel=3, stride=2),
        layer_case(kernel=3, depthwise=True),
        *(
            array_case("1d", "1-D signal", (1_000_000,), (k,),
                       (_numpy_correlate, ndimage, _signal("correlate", flip=False), oa))
            for k in (7, 127)
        ),
        array_case("3d", "3-D volume", (128, 128, 128), (3, 3, 3), (ndimage,)),
        *(
            array_case("large", "large kernel", (1024, 1024), (k, k), (cv2, fft, oa))
            for k in (31, 63)
        ),
        layer_case(kernel=3, backward=True),
        _seed_case(),
    ]


def _seed_case() -> Case:
    """The seed's exercise: an 8x8 image, a 3x3 kernel, the "valid" feature map."""
    return array_case("seed", "tiny (seed exercise)", (8, 8), (3, 3),
                      (_signal("correlate2d", flip=False), _cv2_filter2d), mode="valid")


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One candidate of one case.

    Attributes
    ----------
    name : str
        ``"ndconv auto"``, ``"ndconv <algorithm>"``, a peer's name or ``"memcpy"``.
    kind : {"ndconv", "peer", "limit"}
        What the candidate is.
    median_ms : float
        Median milliseconds per call; NaN when it was not timed.
    status : str
        ``"ok"``, ``"mismatch: ..."`` (output differs from ndconv's, not
        timed) or ``"error: ..."`` (the call raised).

    Examples
    --------
    >>> Measurement("memcpy", "limit", 1.5, "ok").median_ms
    1.5
    """

    name: str
    kind: str
    median_ms: float
    status: str


@dataclass(frozen=True)
class CaseResult:
    """The measurements of one case.

    Attributes
    ----------
    name, regime : str
        From the :class:`Case`.
    algorithm : str
        The algorithm ``"auto"`` ran (after warm-up, so compile time is not
        part of the choice).
    flop : float
        Floating-point operations of the case.
    measurements : tuple of Measurement
        ndconv's first (``auto``, then each algorithm), then peers, then limits.

    Examples
    --------
    >>> r = CaseResult("c", "r", "direct", 2e6, (
    ...     Measurement("ndconv auto", "ndconv", 2.0, "ok"),
    ...     Measurement("cv2.filter2D", "peer", 3.0, "ok"),
    ...     Measurement("memcpy", "limit", 1.0, "ok")))
    >>> r.ratio, r.best_peer.name, r.memcpy_ms
    (1.5, 'cv2.filter2D', 1.0)
    """

    name: str
    regime: str
    algorithm: str
    flop: float
    measurements: tuple[Measurement, ...]

    def _timed(self, kind: str) -> list[Measurement]:
        return [m for m in self.measurements if m.kind == kind and m.status == "ok"]

    @property
    def ndconv_ms(self) -> float:
        """Median of ``algorithm="auto"`` (NaN if it failed)."""
        return next((m.median_ms for m in self._timed("ndconv") if m.name == "ndconv auto"),
                    math.nan)

    @property
    def best_ndconv(self) -> Measurement | None:
        """The fastest ndconv algorithm named explicitly (not ``auto``)."""
        named = [m for m in self._timed("ndconv") if m.name != "ndconv auto"]
        return min(named, key=lambda m: m.median_ms, default=None)

    @property
    def best_peer(self) -> Measurement | None:
        """The fastest peer whose output matched ndconv's."""
        return min(self._timed("peer"), key=lambda m: m.median_ms, default=None)

    @property
    def ratio(self) -> float:
        """Best peer's median over ndconv's: above 1 ndconv is faster."""
        peer = self.best_peer
        return math.nan if peer is None else peer.median_ms / self.ndconv_ms

    @property
    def memcpy_ms(self) -> float:
        """Median of copying the output's bytes, the memory-bandwidth floor."""
        return next((m.median_ms for m in self._timed("limit")), math.nan)


@dataclass(frozen=True)
class Report:
    """A benchmark run: the machine it ran on and one result per case.

    Attributes
    ----------
    machine : dict of str to str
        CPU, cores, threads, library versions, date, repeat count.
    sgemm_gflops : float
        float32 matrix-multiply rate measured in the same run (the compute floor).
    results : tuple of CaseResult

    Examples
    --------
    >>> Report({"cpu": "x"}, 100.0, ()).sgemm_gflops
    100.0
    """

    machine: dict[str, str]
    sgemm_gflops: float
    results: tuple[CaseResult, ...]

    def sgemm_ms(self, result: CaseResult) -> float:
        """Milliseconds the case's flop take at the measured sgemm rate."""
        return result.flop / self.sgemm_gflops / 1e6


def _available(peer: Peer) -> bool:
    return importlib.util.find_spec(peer.module) is not None


def _mismatch(out: Output, reference: Output) -> str | None:
    """Why ``out`` disagrees with ``reference``, or None when it agrees."""
    outs = out if isinstance(out, tuple) else (out,)
    refs = reference if isinstance(reference, tuple) else (reference,)
    if len(outs) != len(refs):
        return f"mismatch: {len(outs)} outputs, expected {len(refs)}"
    for got, want in zip(outs, refs):
        got = np.asarray(got)
        if got.shape != want.shape:
            return f"mismatch: shape {got.shape}, expected {want.shape}"
        atol = ATOL_OF_MAX * float(np.max(np.abs(want), initial=0.0))
        if not np.allclose(got, want, rtol=RTOL, atol=atol):
            error = float(np.max(np.abs(got.astype(np.float64) - want)))
            return f"mismatch: max |diff| {error:.3g} > atol {atol:.3g} + rtol {RTOL:g}"
    return None


def _time_once(call: Call, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - start) / number


def _interleave(calls: dict[str, Call], repeat: int) -> dict[str, float]:
    """Median seconds per call of each candidate, over ``repeat`` round-robin rounds.

    Each round runs the candidates in a new (seeded) order, so none always
    follows the same neighbour, whose cache and allocator state it would
    inherit. A candidate slower than :data:`SLOW_SECONDS` per call sits out
    after :data:`SLOW_ROUNDS` samples: it is far from the contest and would
    dominate the run.
    """
    first = {name: max(_time_once(call, 1), 1e-9) for name, call in calls.items()}
    numbers = {name: max(1, min(10_000, math.ceil(MIN_SAMPLE_SECONDS / t)))
               for name, t in first.items()}
    rounds = {name: min(repeat, SLOW_ROUNDS) if t > SLOW_SECONDS else repeat
              for name, t in first.items()}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        order = np.random.default_rng(0)
        for round_ in range(repeat):
            for name in order.permutation(list(calls)):
                if round_ < rounds[name]:
                    samples[name].append(_time_once(calls[name], numbers[name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: statistics.median(s) for name, s in samples.items()}


def _candidates(case: Case, arrays: Arrays) -> list[tuple[str, str, Callable[[], Call]]]:
    """(name, kind, binder) of every candidate; binding is deferred so it can fail alone."""
    names = ["auto", *(n for n, a in ALGORITHMS.items()
                       if n != "reference" and a.supports(case.spec))]
    ndconv = [(f"ndconv {n}", "ndconv", lambda n=n: case.bind(arrays, n)) for n in names]
    peers = [(p.name, "peer", lambda p=p: p.bind(arrays)) for p in case.peers if _available(p)]
    return ndconv + peers


def run_case(case: Case, repeat: int, rng: np.random.Generator) -> CaseResult:
    """Check every candidate of ``case`` against ndconv, then time them interleaved.

    Parameters
    ----------
    case : Case
        The problem and its candidates.
    repeat : int
        Round-robin rounds; the median of these samples is reported.
    rng : numpy.random.Generator
        Source of the inputs.

    Returns
    -------
    CaseResult

    Examples
    --------
    >>> r = run_case(array_case("2d", "example", (16, 16), (3, 3), peers=()), 1,
    ...              np.random.default_rng(0))
    >>> r.measurements[0].name, r.measurements[0].status
    ('ndconv auto', 'ok')
    """
    arrays = case.build(rng)
    statuses: dict[str, tuple[str, str]] = {}
    calls: dict[str, Call] = {}
    reference: Output | None = None
    for name, kind, binder in _candidates(case, arrays):
        try:
            call = binder()
            out = call()  # the warm-up: compiles, loads libraries, faults pages in
        except Exception as error:  # a failing candidate is reported, not fatal
            statuses[name] = (kind, f"error: {type(error).__name__}: {error}"[:200])
            continue
        if reference is None and kind == "ndconv":
            reference = out
        problem = _mismatch(out, reference) if reference is not None else "error: no reference"
        statuses[name] = (kind, problem or "ok")
        if problem is None:
            calls[name] = call
        del out
    out_bytes = sum(np.asarray(r).nbytes for r in
                    (reference if isinstance(reference, tuple) else (reference,))
                    if r is not None)
    source, target = np.ones(out_bytes, np.uint8), np.zeros(out_bytes, np.uint8)
    calls["memcpy"] = lambda: np.copyto(target, source)
    statuses["memcpy"] = ("limit", "ok")
    del reference
    medians = _interleave(calls, repeat)
    measurements = tuple(
        Measurement(name, kind, medians.get(name, math.nan) * 1e3, status)
        for name, (kind, status) in statuses.items()
    )
    return CaseResult(case.name, case.regime, auto_choice(case), case.flop, measurements)


def _sgemm_gflops(size: int, repeat: int) -> float:
    """float32 ``size``-cubed matrix multiply rate, GFLOP/s (median of ``repeat``)."""
    rng = np.random.default_rng(0)
    a, b = _normal(rng, (size, size)), _normal(rng, (size, size))
    c = np.empty((size, size), DTYPE)
    seconds = _interleave({"sgemm": lambda: np.matmul(a, b, out=c)}, repeat)["sgemm"]
    return 2 * size**3 / seconds / 1e9


def set_threads(threads: int, modules: Sequence[str]) -> str:
    """Limit every thread pool ndconv and the peers use to ``threads``; say what was set.

    ndconv's own setting (:func:`ndconv.set_num_threads`: compiled kernels and
    FFTs) always, capped at numba's pool; PyTorch and OpenCV when they are in
    ``modules``; BLAS through ``threadpoolctl`` when it is installed, else it
    keeps the size its environment variables (``OPENBLAS_NUM_THREADS``,
    ``OMP_NUM_THREADS``) gave it at start-up.

    Parameters
    ----------
    threads : int
        Threads per pool.
    modules : sequence of str
        Peer modules in use (``"torch"``, ``"cv2"``).

    Returns
    -------
    str
        One line for the report header.

    Examples
    --------
    >>> before = get_num_threads()
    >>> set_threads(1, ())
    'ndconv 1, ...'
    >>> set_num_threads(before)
    """
    import numba

    own = min(threads, numba.config.NUMBA_NUM_THREADS)
    set_num_threads(own)
    applied = [f"ndconv {own}"]
    if "torch" in modules:
        import torch

        torch.set_num_threads(threads)
        applied.append(f"torch {threads}")
    if "cv2" in modules:
        import cv2

        cv2.setNumThreads(threads)
        applied.append(f"cv2 {threads}")
    if importlib.util.find_spec("threadpoolctl") is not None:
        import threadpoolctl

        threadpoolctl.threadpool_limits(threads)
        applied.append(f"BLAS {threads} (threadpoolctl)")
    else:
        env = ", ".join(f"{v}={os.environ[v]}" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
                        if v in os.environ) or "no *_NUM_THREADS set"
        applied.append(f"BLAS as started ({env})")
    return ", ".join(applied)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> str:
    parts = [f"ndconv {__version__}"]
    for name in VERSIONED_MODULES:
        if name in sys.modules:
            parts.append(f"{name} {getattr(sys.modules[name], '__version__', '?')}")
        elif importlib.util.find_spec(name) is None:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def run(
    cases: Sequence[Case],
    *,
    repeat: int = 7,
    threads: int | None = None,
    sgemm_size: int = 2048,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run ``cases`` and measure the machine's limits in the same process.

    Parameters
    ----------
    cases : sequence of Case
        What to run, e.g. :func:`default_cases` or hand-made tiny cases.
    repeat : int, default 7
        Round-robin rounds per case.
    threads : int, optional
        Limit thread pools with :func:`set_threads`; by default they are left alone.
    sgemm_size : int, default 2048
        Side of the square float32 matrix multiply that measures the compute rate.
    progress : callable, optional
        Called with one line per finished case.

    Returns
    -------
    Report

    Examples
    --------
    >>> report = run([array_case("2d", "example", (16, 16), (3, 3), peers=())],
    ...              repeat=1, sgemm_size=32)
    >>> [r.name for r in report.results], report.results[0].algorithm in ALGORITHMS
    (['2d-3x3-16'], True)
    """
    modules = sorted({p.module for case in cases for p in case.peers if _available(p)})
    thread_note = (f"ndconv {get_num_threads()} (as started)" if threads is None
                   else set_threads(threads, modules))
    sgemm = _sgemm_gflops(sgemm_size, repeat)
    rng = np.random.default_rng(0)
    results = []
    for i, case in enumerate(cases, 1):
        start = time.perf_counter()
        results.append(run_case(case, repeat, rng))
        if progress is not None:
            progress(f"[{i}/{len(cases)}] {case.name}: {time.perf_counter() - start:.1f} s")
    machine = {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "threads": thread_note,
        "versions": _versions(),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "repeat": str(repeat),
        "sgemm": f"{sgemm:.1f} GFLOP/s (float32 {sgemm_size}^3 matmul)",
    }
    return Report(machine, sgemm, tuple(results))


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

SUMMARY_HEADER = ("case", "regime", "auto", "ndconv ms", "best algo (ms)", "best peer",
                  "peer ms", "ratio", "memcpy ms", "sgemm ms")
DETAIL_HEADER = ("case", "candidate", "median ms", "status")
Table = tuple[str, Sequence[str], list[tuple[str, ...]]]


def _ms(value: float) -> str:
    """Three significant digits, without switching to exponents: 0.0534, 6.00, 168, 1317."""
    if math.isnan(value):
        return "-"
    rounded = float(f"{value:.3g}")
    if rounded < 1:
        return f"{rounded:.3g}"
    return f"{value:.{max(0, 2 - math.floor(math.log10(rounded)))}f}"


def _summary_row(report: Report, r: CaseResult) -> tuple[str, ...]:
    peer, best = r.best_peer, r.best_ndconv
    return (
        r.name, r.regime, r.algorithm, _ms(r.ndconv_ms),
        "-" if best is None else f"{best.name.removeprefix('ndconv ')} ({_ms(best.median_ms)})",
        "-" if peer is None else peer.name, _ms(math.nan if peer is None else peer.median_ms),
        "-" if math.isnan(r.ratio) else f"{r.ratio:.2f}",
        _ms(r.memcpy_ms), _ms(report.sgemm_ms(r)),
    )


def _tables(report: Report) -> list[Table]:
    """(title, header, rows): one summary row per case, then one row per candidate."""
    return [
        ("Summary", SUMMARY_HEADER, [_summary_row(report, r) for r in report.results]),
        ("Every candidate", DETAIL_HEADER, [(r.name, m.name, _ms(m.median_ms), m.status)
                                            for r in report.results for m in r.measurements]),
    ]


def _plain(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |"
                     for line in lines)


def _legend(report: Report) -> str:
    return "\n".join([
        *(f"- {key}: {value}" for key, value in report.machine.items()),
        "- ratio = best peer ms / ndconv auto ms (> 1: ndconv is faster); "
        "memcpy ms = np.copyto of the output's bytes; sgemm ms = the case's flop at the "
        "sgemm rate. Medians of interleaved rounds, float32.",
    ])


def format_table(report: Report) -> str:
    """The report as plain text: machine, one summary row per case, then every candidate.

    Parameters
    ----------
    report : Report

    Returns
    -------
    str

    Examples
    --------
    >>> r = CaseResult("c", "r", "direct", 2e6, (Measurement("ndconv auto", "ndconv", 2.0, "ok"),))
    >>> print(format_table(Report({"cpu": "x"}, 1.0, (r,))))
    - cpu: x
    ...
    case  regime  auto    ndconv ms  best algo (ms)  best peer  peer ms  ratio  memcpy ms  sgemm ms
    ----  ------  ------  ---------  --------------  ---------  -------  -----  ---------  --------
    c     r       direct  2.00       -               -          -        -      -          2.00
    ...
    """
    return "\n\n".join([_legend(report), *(_plain(h, rows) for _, h, rows in _tables(report))])


def to_markdown(report: Report) -> str:
    """The report as a Markdown page: the machine header, the summary and the details.

    Parameters
    ----------
    report : Report

    Returns
    -------
    str

    Examples
    --------
    >>> print(to_markdown(Report({"cpu": "x"}, 1.0, ())).splitlines()[0])
    # ndconv benchmarks
    """
    parts = ["# ndconv benchmarks",
             "Generated by `python -m ndconv.bench`; see benchmarks/README.md.", _legend(report)]
    for title, header, rows in _tables(report):
        parts += [f"## {title}", _markdown_table(header, rows)]
    return "\n\n".join(parts) + "\n"


def _to_json(report: Report) -> str:
    def finite(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value

    data = asdict(report)
    for result, row in zip(data["results"], report.results):
        result.update(ratio=row.ratio, ndconv_ms=row.ndconv_ms, memcpy_ms=row.memcpy_ms,
                      sgemm_ms=report.sgemm_ms(row))
    return json.dumps(finite(data), indent=2) + "\n"


def _print_report(report: Report) -> None:
    if importlib.util.find_spec("rich") is None:
        print(format_table(report))
        return
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    console.print(_legend(report), markup=False)
    for title, header, rows in _tables(report):
        table = RichTable(*header, title=title)
        for row in rows:
            table.add_row(*row)
        console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m ndconv.bench [--quick] [--cases REGEX] ...``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0, or 2 when ``--cases`` matches nothing.

    Examples
    --------
    >>> main(["--quick", "--cases", "no-such-case"])
    2
    """
    parser = argparse.ArgumentParser(prog="python -m ndconv.bench", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a reduced list with small sizes (smoke test)")
    parser.add_argument("--cases", metavar="REGEX",
                        help="run only cases whose name matches (re.search), e.g. '^2d-|^dl-3x3'")
    parser.add_argument("--repeat", type=int, metavar="N",
                        help="interleaved rounds per case (default 7; 3 with --quick)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="threads for ndconv, torch, cv2 and BLAS (default: as started)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write Markdown")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON")
    args = parser.parse_args(argv)
    cases = default_cases(quick=args.quick)
    if args.cases:
        pattern = re.compile(args.cases)
        cases = [c for c in cases if pattern.search(c.name)]
        if not cases:
            print(f"--cases {args.cases!r} matches no case", file=sys.stderr)
            return 2
    repeat = args.repeat or (3 if args.quick else 7)
    report = run(cases, repeat=repeat, threads=args.threads,
                 sgemm_size=512 if args.quick else 2048,
                 progress=lambda line: print(line, file=sys.stderr, flush=True))
    _print_report(report)
    if args.markdown:
        write_atomically(args.markdown, to_markdown(report))
    if args.json:
        write_atomically(args.json, _to_json(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
