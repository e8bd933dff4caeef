"""Array coercion and the dtype rule every entry point follows.

The rule, applied to all array arguments of a call together:

* the joint dtype is ``numpy.result_type`` of the arguments;
* bool and integer results compute and return float64 (never wrap, never
  boolean arithmetic);
* float16 computes in float32 and returns float16;
* float32, float64, longdouble and complex keep their dtype.

>>> resolve_dtypes({"x": np.zeros(2, np.uint8), "w": np.zeros(2, np.int16)})
(dtype('float64'), dtype('float64'))
>>> resolve_dtypes({"x": np.zeros(2, np.float16), "w": np.zeros(2, np.float16)})
(dtype('float32'), dtype('float16'))
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping

import numpy as np

_NUMERIC_KINDS = "biufc"


def is_dask_array(value: object) -> bool:
    """Whether ``value`` is a ``dask.array.Array``, without importing dask.

    A value can only be one if ``dask.array`` has been imported already, so
    the check costs a dict lookup for NumPy inputs and works without dask.

    >>> is_dask_array(np.zeros(3))
    False
    """
    if type(value) is np.ndarray:  # the common case, answered first
        return False
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(value, module.Array)


def as_array(value: object, name: str) -> np.ndarray:
    """Return ``value`` as an ndarray without copying, or raise naming ``name``.

    >>> as_array([[1, 2], [3]], "x")
    Traceback (most recent call last):
    ValueError: x must be a rectangular numeric array; got a ragged nested sequence
    """
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except ValueError:
        raise ValueError(
            f"{name} must be a rectangular numeric array; got a ragged nested sequence"
        ) from None


def resolve_dtypes(
    arrays: Mapping[str, np.ndarray | None], *, allow_complex: bool = True
) -> tuple[np.dtype, np.dtype]:
    """Check the arrays' dtypes and return ``(compute_dtype, result_dtype)``.

    ``None`` entries (an absent bias) are skipped.
    """
    present = tuple((name, a.dtype) for name, a in arrays.items() if a is not None)
    return _resolve(present, allow_complex)


@functools.lru_cache(maxsize=256)
def _resolve(
    named_dtypes: tuple[tuple[str, np.dtype], ...], allow_complex: bool
) -> tuple[np.dtype, np.dtype]:
    # Memoised: small convolutions call this on every call with the same few dtypes.
    for name, dtype in named_dtypes:
        kind = dtype.kind
        if kind not in _NUMERIC_KINDS:
            raise TypeError(
                f"{name} has dtype {dtype}; expected a numeric array "
                f"(bool, integer, floating or complex)"
            )
        if kind == "c" and not allow_complex:
            raise TypeError(
                f"{name} has complex dtype {dtype}; this function is defined for real "
                f"dtypes only (complex inputs work with conv, conv_transpose, correlate and "
                f"convolve)"
            )
    joint = np.result_type(*(dtype for _, dtype in named_dtypes))
    if joint.kind in "biu":
        return np.dtype(np.float64), np.dtype(np.float64)
    if joint == np.float16:
        return np.dtype(np.float32), np.dtype(np.float16)
    return joint, joint
