"""Conformance of ``ndconv.correlate`` and ``ndconv.convolve`` with SciPy on plain N-D arrays.

The oracle
----------
``scipy.signal.correlate`` and ``scipy.signal.convolve`` with ``method="direct"`` (a sum of
products, no FFT rounding), in every mode ("valid", "same", "full"), on arrays of 1 to 4 dims.
ndconv's correlation does not conjugate the kernel, so the expected correlation is
``scipy.signal.correlate(a, k.conj())``; ``convolve`` is SciPy's own numbers. The oracle runs in
float64 (complex128) on the very values ndconv receives: float32 arrays are widened exactly and
integer arrays are computed in int64, so the expected numbers carry no rounding (or wrap-around)
of their own. Integer inputs must come back as float64 and equal SciPy's exact integers.

How cases are drawn
-------------------
Each test item owns one seed; its shapes, dtype and values come only from
``np.random.default_rng(seed)``. Kernel sizes are drawn independently of the input sizes, so
kernels are odd and even and sometimes larger than the input along some axes: then "valid" must
raise (SciPy would swap the inputs, ndconv refuses) while "same" and "full" are still compared.
SciPy's "same" centres the output on the "full" one, which for even kernels puts the extra
padding element at the start; dedicated tests pin that down for every kernel size 1-6. Coverage
of ranks, dtypes, even kernels and oversized kernels over the drawn seeds is asserted by
``test_draws_cover_*``.

Algorithms: every item runs the default (``"auto"``) and ``"numpy"``; the pure-Python
``"reference"`` loop runs on the small cases.

Tolerances are per element: rtol 1e-10 / 1e-5 (float64 and complex128 / float32) and atol
1e-12 / 1e-6 times the kernel size (the number of products summed into an element).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.signal

import ndconv

MODES = ("valid", "same", "full")
DTYPES = (np.float64, np.float32, np.complex128, np.int64, np.int32, np.uint8)
# (rtol, atol per product summed into an element)
TOLERANCES = {
    np.dtype(np.float64): (1e-10, 1e-12),
    np.dtype(np.complex128): (1e-10, 1e-12),
    np.dtype(np.float32): (1e-5, 1e-6),
}
# Largest size per axis for each rank (inputs and kernels drawn up to it).
MAX_SIZE = {1: 24, 2: 9, 3: 6, 4: 4}
# The reference algorithm runs when the "full" output times the kernel stays this small.
REFERENCE_WORK = 20_000

CORRELATE_SEEDS = range(90)
CONVOLVE_SEEDS = range(1000, 1090)
FUNCTIONS = {
    "correlate": (ndconv.correlate, scipy.signal.correlate),
    "convolve": (ndconv.convolve, scipy.signal.convolve),
}


@dataclass(frozen=True)
class Case:
    a: np.ndarray
    k: np.ndarray

    @property
    def ndim(self) -> int:
        return self.a.ndim

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(self.a, self.k)

    @property
    def fits(self) -> bool:
        """Whether the kernel fits inside the input along every axis ("valid" is defined)."""
        return all(n >= m for n, m in zip(self.a.shape, self.k.shape))

    @property
    def full_work(self) -> int:
        full = np.add(self.a.shape, self.k.shape) - 1
        return int(np.prod(full)) * self.k.size


def random_values(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape).astype(dtype)  # products overflow uint8 arithmetic
    if dtype.kind == "i":
        return rng.integers(-50, 51, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def draw_case(seed: int) -> Case:
    rng = np.random.default_rng(seed)
    ndim = 1 + seed % 4
    dtype = DTYPES[(seed // 4) % len(DTYPES)]
    top = MAX_SIZE[ndim]
    a_shape = tuple(int(v) for v in rng.integers(1, top + 1, ndim))
    if rng.random() < 0.6:
        # kernel no larger than the input: every mode is defined
        k_shape = tuple(int(rng.integers(1, n + 1)) for n in a_shape)
    else:
        k_shape = tuple(int(v) for v in rng.integers(1, top + 1, ndim))
    return Case(random_values(rng, a_shape, dtype), random_values(rng, k_shape, dtype))


def expected(function: str, a: np.ndarray, k: np.ndarray, mode: str) -> np.ndarray:
    """SciPy's direct-method result in float64/complex128, computed without rounding inputs."""
    if np.result_type(a, k).kind in "biu":
        a, k = a.astype(np.int64), k.astype(np.int64)
    elif np.result_type(a, k).kind == "c":
        a, k = a.astype(np.complex128), k.astype(np.complex128)
    else:
        a, k = a.astype(np.float64), k.astype(np.float64)
    if function == "correlate":
        return scipy.signal.correlate(a, k.conj(), mode=mode, method="direct")
    return scipy.signal.convolve(a, k, mode=mode, method="direct")


def assert_matches(got: np.ndarray, want: np.ndarray, case: Case, context: str) -> None:
    dtype = case.dtype
    if dtype.kind in "biu":
        assert got.dtype == np.float64, context
        np.testing.assert_array_equal(got, want.astype(np.float64), err_msg=context)
        return
    assert got.dtype == dtype, context
    assert got.shape == want.shape, context
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * case.k.size, err_msg=context)


def algorithms_for(case: Case) -> list[str]:
    names = ["auto", "numpy"]
    if case.full_work <= REFERENCE_WORK:
        names.append("reference")
    return names


def check_case(function: str, case: Case) -> None:
    ours, _ = FUNCTIONS[function]
    for mode in MODES:
        for algorithm in algorithms_for(case):
            context = (
                f"{function} mode={mode} algorithm={algorithm} a{case.a.shape} k{case.k.shape} "
                f"{case.dtype}"
            )
            if mode == "valid" and not case.fits:
                with pytest.raises(ValueError, match="valid"):
                    ours(case.a, case.k, mode, algorithm=algorithm)
                continue
            got = ours(case.a, case.k, mode, algorithm=algorithm)
            assert_matches(got, expected(function, case.a, case.k, mode), case, context)


@pytest.mark.parametrize("seed", CORRELATE_SEEDS)
def test_correlate_matches_scipy(seed):
    check_case("correlate", draw_case(seed))


@pytest.mark.parametrize("seed", CONVOLVE_SEEDS)
def test_convolve_matches_scipy(seed):
    check_case("convolve", draw_case(seed))


# ---------------------------------------------------------------------------
# Targeted cases: even kernels in "same" mode, kernels larger than the input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_same_mode_centres_every_kernel_size_like_scipy(function, ndim, k):
    # An asymmetric kernel (distinct values) on an input of a different parity: a centring
    # off by one element along any axis changes the numbers.
    rng = np.random.default_rng(10 * ndim + k)
    n = 7 if ndim <= 2 else 5
    a = rng.standard_normal((n,) * ndim)
    kernel = np.arange(1.0, k**ndim + 1).reshape((k,) * ndim) ** 1.5
    case = Case(a, kernel)
    for algorithm in algorithms_for(case):
        got = FUNCTIONS[function][0](a, kernel, "same", algorithm=algorithm)
        assert got.shape == a.shape
        assert_matches(got, expected(function, a, kernel, "same"), case, f"{algorithm}")


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize(
    ("a_shape", "k_shape"),
    [
        ((3,), (8,)),
        ((4,), (9,)),
        ((1,), (6,)),
        ((2, 5), (5, 2)),
        ((3, 3), (6, 7)),
        ((1, 4), (4, 4)),
        ((2, 3, 2), (4, 2, 5)),
        ((2, 2, 2, 2), (3, 2, 4, 1)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_kernel_larger_than_input_in_same_and_full(function, a_shape, k_shape, dtype):
    rng = np.random.default_rng(sum(a_shape) * 31 + sum(k_shape))
    case = Case(random_values(rng, a_shape, dtype), random_values(rng, k_shape, dtype))
    ours = FUNCTIONS[function][0]
    for algorithm in ("auto", "numpy", "reference"):
        for mode in ("same", "full"):
            got = ours(case.a, case.k, mode, algorithm=algorithm)
            want = expected(function, case.a, case.k, mode)
            assert_matches(got, want, case, f"{mode} {algorithm}")
        assert ours(case.a, case.k, "same").shape == a_shape
        with pytest.raises(ValueError, match="valid"):
            ours(case.a, case.k, "valid", algorithm=algorithm)


@pytest.mark.parametrize("mode", MODES)
def test_correlate_does_not_conjugate_the_kernel(mode):
    rng = np.random.default_rng(5)
    a = random_values(rng, (6, 5), np.complex128)
    k = random_values(rng, (3, 2), np.complex128)
    got = ndconv.correlate(a, k, mode)
    np.testing.assert_allclose(
        got, scipy.signal.correlate(a, k.conj(), mode=mode, method="direct"),
        rtol=1e-10, atol=1e-12 * k.size,
    )
    # ... and so differs from SciPy's conjugating correlation.
    assert not np.allclose(got, scipy.signal.correlate(a, k, mode=mode, method="direct"))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint8, np.uint16, np.int64, np.bool_])
@pytest.mark.parametrize("mode", MODES)
def test_integer_inputs_give_exact_float64(dtype, mode):
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype) if dtype is not np.bool_ else None
    low, high = (0, 2) if info is None else (max(info.min, -100), min(info.max, 200) + 1)
    a = rng.integers(low, high, (7, 6)).astype(dtype)
    k = rng.integers(low, high, (3, 4)).astype(dtype)
    for function, (ours, _) in FUNCTIONS.items():
        got = ours(a, k, mode)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected(function, a, k, mode).astype(np.float64))


@pytest.mark.parametrize("mode", MODES)
def test_mixed_float32_and_float64_follow_result_type(mode):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((9, 8)).astype(np.float32)
    k = rng.standard_normal((3, 2))
    for function, (ours, _) in FUNCTIONS.items():
        got = ours(a, k, mode)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected(function, a, k, mode), rtol=1e-10,
                                   atol=1e-12 * k.size)


# ---------------------------------------------------------------------------
# The draws cover what they are meant to
# ---------------------------------------------------------------------------

ALL_CASES = [draw_case(s) for s in (*CORRELATE_SEEDS, *CONVOLVE_SEEDS)]


def test_draws_cover_every_rank_and_dtype():
    assert {c.ndim for c in ALL_CASES} == {1, 2, 3, 4}
    assert {c.dtype for c in ALL_CASES} == {np.dtype(d) for d in DTYPES}
    for ndim in (1, 2, 3, 4):
        dtypes = {c.dtype for c in ALL_CASES if c.ndim == ndim}
        assert {np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.complex128)} <= dtypes


def test_draws_cover_even_kernels_and_oversized_kernels():
    for ndim in (1, 2, 3, 4):
        cases = [c for c in ALL_CASES if c.ndim == ndim]
        assert any(m % 2 == 0 for c in cases for m in c.k.shape)
        assert any(m % 2 == 1 and m > 1 for c in cases for m in c.k.shape)
        assert sum(not c.fits for c in cases) >= 5
        assert sum(c.fits for c in cases) >= 10
        assert any(c.full_work <= REFERENCE_WORK for c in cases)
