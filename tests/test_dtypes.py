"""The dtype rule and array coercion (ndconv._dtypes)."""

import numpy as np
import pytest

from ndconv._dtypes import as_array, resolve_dtypes


@pytest.mark.parametrize(
    ("dtypes", "compute", "result"),
    [
        ((np.float32,), np.float32, np.float32),
        ((np.float16, np.float32), np.float32, np.float32),
        ((np.float16,), np.float32, np.float16),
        ((np.int32, np.float32), np.float64, np.float64),
        ((np.uint8, np.uint8), np.float64, np.float64),
        ((np.bool_,), np.float64, np.float64),
        ((np.complex64, np.float64), np.complex128, np.complex128),
        ((np.longdouble, np.float32), np.longdouble, np.longdouble),
    ],
)
def test_resolve_dtypes(dtypes, compute, result):
    arrays = {f"a{i}": np.zeros(1, dtype=d) for i, d in enumerate(dtypes)}
    assert resolve_dtypes(arrays) == (np.dtype(compute), np.dtype(result))


def test_absent_arrays_are_skipped():
    assert resolve_dtypes({"x": np.zeros(1, np.float32), "bias": None}) == (
        np.dtype(np.float32), np.dtype(np.float32))


@pytest.mark.parametrize("dtype", ["U3", "S2", "O", "datetime64[ns]", "timedelta64[s]", "V4"])
def test_non_numeric_dtypes_are_rejected(dtype):
    with pytest.raises(TypeError, match=r"x has dtype .*; expected a numeric array"):
        resolve_dtypes({"x": np.zeros(1, dtype=dtype)})


def test_complex_can_be_refused():
    with pytest.raises(TypeError, match="w has complex dtype complex64"):
        resolve_dtypes({"w": np.zeros(1, np.complex64)}, allow_complex=False)


def test_as_array_keeps_ndarrays_and_converts_lists():
    a = np.ones(3)
    assert as_array(a, "x") is a
    np.testing.assert_array_equal(as_array([1, 2], "x"), [1, 2])
