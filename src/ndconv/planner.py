"""Choosing an algorithm for a convolution, with the evidence for the choice.

``"auto"`` ranks every algorithm of :data:`ndconv.algorithms.ALGORITHMS` that
supports the spec by its estimated cost (:mod:`ndconv.algorithms.costs`) and
picks the cheapest; the reference loop is only a candidate when nothing else
supports the spec. An algorithm that must still be compiled is charged its
compile time shared over the calls expected to reuse it: at first
:attr:`~ndconv.algorithms.costs.MachineModel.expected_reuse` calls, then as
many as have been made with that spec, so one-off small calls do not wait for
a compiler but a small call made thousands of times ends up compiled (the
tiering of a JIT). Inside
``with ndconv.autotune():`` the candidates are timed instead, once per spec,
and the winner is remembered in memory and in the on-disk cache
(:mod:`ndconv._cache`), like cuDNN's benchmark mode or FFTW's wisdom.

Two rules come before speed. Memory: an algorithm whose workspace exceeds
:func:`ndconv.get_workspace_limit` is not a candidate, and requesting one by
name raises ``MemoryError`` naming the bytes it needs and the limit, before
anything is allocated. Non-finite data: an algorithm that spreads a NaN or
Inf beyond the windows covering it (``Algorithm.spreads_nonfinite``: FFT)
never sees such data, even when requested by name; the plan's ``fallback``,
the best algorithm that keeps them local, runs instead.

>>> import ndconv
>>> p = ndconv.plan((1, 1, 512, 512), (1, 1, 3, 3), "float32", padding="same")
>>> sorted(p.estimates)
['direct', 'fft', 'gemm', 'numpy', 'small', 'winograd']
>>> p.algorithm == min(p.estimates, key=p.estimates.get)
True
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._cache import cache_dir, write_atomically
from ._dtypes import resolve_dtypes
from ._limits import format_bytes, get_workspace_limit
from ._shapes import ConvSpec, check_shape, conv_spec
from .algorithms import ALGORITHMS, Algorithm, get_algorithm
from .algorithms.costs import DEFAULT_MACHINE

_AUTOTUNING: ContextVar[bool] = ContextVar("ndconv_autotuning", default=False)
# The autotune cache: spec key -> measured seconds per candidate. Loaded lazily
# from, and written through to, autotune.json in the cache directory.
_MEASURED: dict[str, dict[str, float]] = {}
_MEASURED_LOCK = threading.Lock()
_AUTOTUNE_FILE = "autotune.json"
# The plan cache: (spec, requested, autotuning, workspace limit) -> [plan, calls so far].
# A plan is re-made when its call count reaches a power of two, which picks up kernels
# that became ready and the growing reuse at a negligible amortised cost. Cleared when
# it holds _MAX_PLANS entries; races between threads only miscount calls.
_PLANS: dict[tuple[ConvSpec, str, bool, int], list[Any]] = {}
_MAX_PLANS = 4096


@dataclass(frozen=True)
class Plan:
    """The algorithm chosen for a convolution, and why.

    Attributes
    ----------
    algorithm : str
        The name that will run.
    estimates : dict of str to float
        Seconds per candidate: estimated by the cost model, or measured when
        ``measured`` is true.
    measured : bool
        Whether ``estimates`` are timings (autotune) rather than estimates.
    reason : str
        One sentence on why ``algorithm`` was chosen.
    workspace_bytes : int
        Memory the chosen algorithm allocates beyond the output.
    fallback : str or None
        When the chosen algorithm is trusted only on some data (FFT), the
        algorithm that runs instead on data it must not see: under ``"auto"``,
        arrays its guard refuses (integers, NaN or Inf, a wide range of
        magnitudes); when it was requested by name, arrays holding NaN or Inf
        (which it would spread to outputs whose windows do not cover them).
        Always an algorithm that keeps non-finite values local. None otherwise.
    """

    algorithm: str
    estimates: dict[str, float]
    measured: bool
    reason: str
    workspace_bytes: int
    fallback: str | None = None


def _fitting(spec: ConvSpec, limit: int) -> list[Algorithm]:
    """Algorithms supporting ``spec`` within the workspace limit, the reference loop last.

    The reference loop is only included when no other algorithm qualifies.
    """
    supported = [
        a for name, a in ALGORITHMS.items()
        if name != "reference" and a.supports(spec) and a.workspace(spec) <= limit
    ]
    reference = ALGORITHMS["reference"]
    return supported or ([reference] if reference.workspace(spec) <= limit else [])


def _candidates(spec: ConvSpec, limit: int) -> list[Algorithm]:
    """The algorithms ``"auto"`` chooses from; ``MemoryError`` if none fits the limit."""
    fitting = _fitting(spec, limit)
    if not fitting:
        supported = [a for a in ALGORITHMS.values() if a.supports(spec)]
        smallest = min(supported, key=lambda a: a.workspace(spec))
        needed = smallest.workspace(spec)
        raise MemoryError(
            f"no algorithm fits this convolution in the workspace limit of {limit} bytes "
            f"({format_bytes(limit)}): the least any needs is {needed} bytes "
            f"({format_bytes(needed)}, algorithm={smallest.name!r}); raise the limit with "
            f"ndconv.set_workspace_limit({needed}) or more, or compute in chunks with ndconv.dask"
        )
    return fitting


def _check_workspace(algorithm: Algorithm, spec: ConvSpec, limit: int) -> int:
    """The workspace of a requested algorithm; ``MemoryError`` if it exceeds the limit."""
    needed = algorithm.workspace(spec)
    if needed > limit:
        raise MemoryError(
            f"algorithm={algorithm.name!r} needs {needed} bytes ({format_bytes(needed)}) of "
            f"workspace for this convolution, more than the workspace limit of {limit} bytes "
            f"({format_bytes(limit)}); raise the limit with ndconv.set_workspace_limit({needed}) "
            f"or more, or use algorithm='auto' to pick an algorithm that fits"
        )
    return needed


def _keeps_nonfinite_local(algorithm: Algorithm) -> bool:
    """Trusted on any data: no guard, and a NaN or Inf reaches only the windows covering it."""
    return algorithm.guard is None and not algorithm.spreads_nonfinite


def _best_local(seconds: dict[str, float]) -> str:
    """The fastest of ``seconds`` that keeps non-finite values local (else the reference)."""
    local = {n: s for n, s in seconds.items() if _keeps_nonfinite_local(ALGORITHMS[n])}
    return min(local, key=local.__getitem__) if local else "reference"


def _all_finite(arrays: tuple[np.ndarray, ...]) -> bool:
    """No NaN or Inf: one ``isfinite`` pass per floating array (integers always pass)."""
    return all(a.dtype.kind not in "fc" or bool(np.isfinite(a).all()) for a in arrays)


def _spec_key(spec: ConvSpec) -> str:
    fields = asdict(spec)
    fields.pop("batched")
    fields["dtype"] = str(spec.dtype)
    return json.dumps(fields, sort_keys=True)


def _read_measured(directory: Path) -> dict[str, dict[str, float]]:
    # No cache yet, or a damaged one: nothing measured.
    with contextlib.suppress(OSError, ValueError):
        stored = json.loads((directory / _AUTOTUNE_FILE).read_text())
        if isinstance(stored, dict):
            return stored
    return {}


def _load_measured() -> None:
    directory = cache_dir("autotune")
    if directory is not None and not _MEASURED:
        _MEASURED.update(_read_measured(directory))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (POSIX ``flock``; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # Windows: the write is still atomic, a race may drop entries
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _store_measured() -> None:
    """Merge this process's measurements into the file: read, merge, write, under a lock.

    Other processes may have stored theirs since this one loaded the file;
    rewriting it from memory alone would drop them.
    """
    directory = cache_dir("autotune")
    if directory is None:
        return
    with contextlib.suppress(OSError), _file_lock(directory / f"{_AUTOTUNE_FILE}.lock"):
        merged = {**_read_measured(directory), **_MEASURED}
        write_atomically(directory / _AUTOTUNE_FILE, json.dumps(merged, indent=1))
        _MEASURED.update(merged)


def _time(algorithm: Algorithm, x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> float:
    run_algorithm(algorithm, x, w, spec)  # warm up: compile, fault pages in
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run_algorithm(algorithm, x, w, spec)
        best = min(best, time.perf_counter() - start)
    return best


def _measure(spec: ConvSpec, candidates: Sequence[Algorithm]) -> dict[str, float]:
    key = _spec_key(spec)
    with _MEASURED_LOCK:
        _load_measured()
        if key in _MEASURED and set(_MEASURED[key]) == {a.name for a in candidates}:
            return _MEASURED[key]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec.input_shape).astype(spec.dtype)
    w = rng.standard_normal(spec.weight_shape).astype(spec.dtype)
    timings = {a.name: _time(a, x, w, spec) for a in candidates}
    with _MEASURED_LOCK:
        _MEASURED[key] = timings
        _store_measured()
    return timings


def check_algorithm(spec: ConvSpec, requested: str) -> Algorithm | None:
    """Reject an unknown or unsupported name before any work; the named algorithm, or None.

    ``None`` stands for "auto", which is always valid.
    """
    if requested == "auto":
        return None
    algorithm = get_algorithm(requested)
    if not algorithm.supports(spec):
        raise ValueError(
            f"algorithm={requested!r} does not support this convolution "
            f"(dtype {spec.dtype}); use algorithm='auto'"
        )
    return algorithm


def _estimate(algorithm: Algorithm, spec: ConvSpec, calls: int) -> float:
    """Seconds per call: running time plus the one-time setup shared over the reuse."""
    reuse = max(DEFAULT_MACHINE.expected_reuse, calls)
    return algorithm.cost(spec) + algorithm.setup(spec) / reuse


def plan_spec(spec: ConvSpec, requested: str = "auto", calls: int = 1) -> Plan:
    """The :class:`Plan` for a checked spec (``requested`` is "auto" or a name).

    ``calls`` is how many calls with this spec have been made, this one included.
    """
    algorithm = check_algorithm(spec, requested)
    limit = get_workspace_limit()
    if algorithm is not None:
        workspace = _check_workspace(algorithm, spec, limit)
        estimate = {requested: _estimate(algorithm, spec, calls)}
        if not algorithm.spreads_nonfinite:
            return Plan(requested, estimate, False, "requested by the caller", workspace)
        local = _best_local({a.name: _estimate(a, spec, calls) for a in _fitting(spec, limit)})
        reason = (f"requested by the caller; data holding NaN or Inf run {local!r} instead, "
                  f"which keeps them local ({requested!r} would spread them)")
        return Plan(requested, estimate, False, reason, workspace, local)
    candidates = _candidates(spec, limit)
    measured = _AUTOTUNING.get() and len(candidates) > 1
    seconds = (
        _measure(spec, candidates) if measured
        else {a.name: _estimate(a, spec, calls) for a in candidates}
    )
    best = min(seconds, key=seconds.__getitem__)
    if len(candidates) == 1:
        reason = f"the only algorithm supporting dtype {spec.dtype}"
    else:
        how = "fastest measured" if measured else "lowest estimated cost"
        reason = f"{how} of {len(candidates)} candidates"
    fallback = None if _keeps_nonfinite_local(ALGORITHMS[best]) else _best_local(seconds)
    return Plan(best, seconds, measured, reason, ALGORITHMS[best].workspace(spec), fallback)


def _refuses(algorithm: Algorithm, spec: ConvSpec, requested: str,
             data: tuple[np.ndarray, np.ndarray] | None) -> bool:
    """Whether ``data`` must not go through the planned ``algorithm`` (its plan has a fallback)."""
    if data is None:  # nothing to vouch for the data: only algorithms trusted on all data run
        return True
    if requested == "auto" and algorithm.guard is not None:
        return algorithm.guard(*data, spec) is not None  # it refuses NaN and Inf itself
    return algorithm.spreads_nonfinite and not _all_finite(data)


def choose_algorithm(
    spec: ConvSpec,
    requested: str = "auto",
    data: tuple[np.ndarray, np.ndarray] | None = None,
) -> Algorithm:
    """Return the algorithm that will compute ``spec``.

    ``data`` is the caller's ``(x, w)`` as given (before any cast). A plan
    with a fallback is only followed when ``data`` is given and passes its
    check; otherwise the fallback runs. The check is the algorithm's guard
    under ``"auto"`` (FFT: integers, NaN or Inf, a wide range of
    magnitudes), and for an algorithm requested by name that spreads
    non-finite values, one ``isfinite`` pass over the floating arrays.

    Examples
    --------
    >>> from ndconv._shapes import conv_spec
    >>> choose_algorithm(conv_spec((16, 64, 56, 56), (64, 64, 1, 1))).name
    'gemm'
    >>> choose_algorithm(conv_spec((1, 1, 8, 8), (1, 1, 3, 3)), "reference").name
    'reference'
    """
    key = (spec, requested, _AUTOTUNING.get(), get_workspace_limit())
    entry = _PLANS.get(key)
    if entry is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        entry = _PLANS[key] = [plan_spec(spec, requested), 1]
    else:
        entry[1] += 1
        calls = entry[1]
        if calls & (calls - 1) == 0:
            entry[0] = plan_spec(spec, requested, calls)
    chosen = ALGORITHMS[entry[0].algorithm]
    if entry[0].fallback is not None and _refuses(chosen, spec, requested, data):
        return ALGORITHMS[entry[0].fallback]
    return chosen


@functools.lru_cache(maxsize=4096)
def _nothing_to_sum(spec: ConvSpec) -> bool:
    """No output elements, or no input channels: the result is zeros (memoised per spec)."""
    return 0 in (spec.batch, spec.out_channels, *spec.out_spatial) or spec.in_channels == 0


def run_algorithm(
    algorithm: Algorithm,
    x: np.ndarray,
    w: np.ndarray,
    spec: ConvSpec,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``algorithm`` on ``spec`` into ``out`` (or a new array) and return the result.

    With no output elements, or no input channels to sum over, the result is
    all zeros whatever the algorithm, so algorithms only ever see real work.
    """
    if _nothing_to_sum(spec):
        shape = (spec.batch, spec.out_channels, *spec.out_spatial)
        if out is None:
            return np.zeros(shape, dtype=np.result_type(x, w))
        out[...] = 0
        return out
    return algorithm.run(x, w, spec, out)


def execute(
    x: np.ndarray,
    w: np.ndarray,
    spec: ConvSpec,
    requested: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Run the forward convolution described by ``spec`` (no bias): the gradients' entry.

    Guards judge the caller's arrays, not derived ones, so under ``"auto"`` a
    guarded plan runs its fallback here; an algorithm requested by name that
    spreads non-finite values still gets the NaN/Inf check on ``x`` and ``w``.
    """
    data = None if requested == "auto" else (x, w)
    return run_algorithm(choose_algorithm(spec, requested, data), x, w, spec, out)


def plan(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    dtype: DTypeLike = np.float32,
    *,
    stride: int | Sequence[int] = 1,
    padding: int | str | Sequence[int] | Sequence[tuple[int, int]] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    algorithm: str = "auto",
) -> Plan:
    """Which algorithm ``conv`` would run for these shapes, with the evidence.

    Parameters
    ----------
    x_shape, w_shape : sequence of int
        Shapes as :func:`ndconv.conv` takes them.
    dtype : dtype, default float32
        The arrays' dtype (both); the compute dtype follows ndconv's rule.
    stride, padding, dilation, groups, padding_mode, algorithm
        As for :func:`ndconv.conv`.

    Returns
    -------
    Plan
        The chosen algorithm, every candidate's estimated (or, inside
        :func:`autotune`, measured) seconds, the reason and the workspace.

    Raises
    ------
    TypeError, ValueError
        For the arguments :func:`ndconv.conv` would reject.
    MemoryError
        When the requested algorithm, or under ``"auto"`` every algorithm,
        needs more workspace than :func:`ndconv.get_workspace_limit`.

    Examples
    --------
    >>> import ndconv
    >>> p = ndconv.plan((16, 64, 56, 56), (64, 64, 1, 1), "float32")
    >>> p.algorithm, p.reason
    ('gemm', 'lowest estimated cost of 5 candidates')
    """
    compute, _ = resolve_dtypes({"dtype": np.empty(0, dtype=dtype)})
    spec = conv_spec(
        check_shape(x_shape, "x_shape"), check_shape(w_shape, "w_shape"), stride=stride,
        padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode,
        dtype=compute,
    )
    return plan_spec(spec, algorithm)


@contextlib.contextmanager
def autotune() -> Iterator[None]:
    """Measure the candidate algorithms instead of estimating them, inside this block.

    The first call for a given spec (shapes, parameters, dtype) times every
    candidate on random data of those shapes; the winner is remembered for the
    rest of the process and in the cache directory for later ones.

    Examples
    --------
    >>> import numpy as np
    >>> import ndconv
    >>> with ndconv.autotune():
    ...     y = ndconv.conv(np.ones((1, 2, 16, 16), np.float32), np.ones((2, 2, 3, 3), np.float32))
    >>> y.shape
    (1, 2, 14, 14)
    """
    token = _AUTOTUNING.set(True)
    try:
        yield
    finally:
        _AUTOTUNING.reset(token)
