"""How many threads ndconv's own parallel work uses.

One process-wide setting, read by the compiled kernels and the FFT. Its default
comes from the environment as numba and OpenMP read it: ``NUMBA_NUM_THREADS``,
else ``OMP_NUM_THREADS``, else the number of CPUs. BLAS (the ``numpy``
algorithm's matmuls) keeps its own pool; set ``OPENBLAS_NUM_THREADS`` or use
threadpoolctl for it.

>>> previous = get_num_threads()
>>> set_num_threads(1)
>>> get_num_threads()
1
>>> set_num_threads(previous)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ._shapes import check_int

_LOCK = threading.Lock()


def _from_environment() -> int:
    for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


_setting = {"threads": _from_environment()}


def _numba_limit() -> int:
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def get_num_threads() -> int:
    """The number of threads ndconv's parallel kernels and FFTs use."""
    return _setting["threads"]


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads for ndconv's parallel kernels and FFTs from now on.

    Parameters
    ----------
    threads : int
        At least 1, and at most the numba pool's size (``NUMBA_NUM_THREADS``,
        fixed when numba starts).

    Raises
    ------
    TypeError, ValueError
        For a non-integer or out-of-range count.

    Examples
    --------
    >>> import ndconv
    >>> ndconv.set_num_threads(1)
    >>> ndconv.get_num_threads()
    1
    """
    count = check_int(threads, "threads", minimum=1)
    limit = _numba_limit()
    if count > limit:
        raise ValueError(
            f"threads={count} exceeds numba's pool of {limit} threads; start Python with "
            f"NUMBA_NUM_THREADS={count} to allow more"
        )
    with _LOCK:
        _setting["threads"] = count


def kernel_threads() -> int:
    """The setting, capped at numba's pool size (for numba.set_num_threads)."""
    return min(get_num_threads(), _numba_limit())


# Helper threads for serial compiled kernels (numba ``nogil``), kept across calls:
# starting threads for every call costs about a millisecond. A forked child has none
# of its parent's threads, so it starts its own.
_HELPERS: list[tuple[int, ThreadPoolExecutor]] = []
_HELPERS_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_HELPERS.clear)


def _helpers(count: int) -> ThreadPoolExecutor:
    with _HELPERS_LOCK:
        if not _HELPERS or _HELPERS[0][0] < count:
            if _HELPERS:
                _HELPERS[0][1].shutdown(wait=False)
            _HELPERS[:] = [(count, ThreadPoolExecutor(count, "ndconv-worker"))]
        return _HELPERS[0][1]


def run_workers(work: Callable[[int], None], workers: int) -> None:
    """Run ``work(0)``, ..., ``work(workers - 1)`` side by side, and wait for all.

    The caller runs ``work(0)`` itself, helper threads the others; ``work``
    should release the GIL (a ``nogil`` kernel) for this to be parallel.

    >>> done = []
    >>> run_workers(done.append, 3)
    >>> sorted(done)
    [0, 1, 2]
    """
    if workers == 1:
        work(0)
        return
    helpers = [_helpers(workers - 1).submit(work, i) for i in range(1, workers)]
    work(0)
    for helper in helpers:
        helper.result()
