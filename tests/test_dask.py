"""ndconv.dask: lazy chunked convolutions equal the NumPy ones for any chunking.

The oracle is ndconv's own NumPy path (itself checked against PyTorch and SciPy by the
conformance suites) with the same algorithm, so any difference comes from the chunking:
halos, padding, the placement of strided windows, the gradient folds. Hypothesis draws
the convolution (1-3 spatial dims, stride, dilation, groups, every padding form and mode,
batched or not, bias, weights as NumPy or dask arrays) and an arbitrary chunking of every
axis, chunks smaller than the kernel included. The property tests use the "numpy"
algorithm so that no numba kernel is compiled per drawn kernel shape; one test checks
that "auto" plans each chunk by its own shape.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import warnings
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

import ndconv
import ndconv.api
import ndconv.dask
from conv_case import ConvCase, Pair, string_padding
from ndconv.images import filter_image

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_FORMS = ("int", "per_dim", "pairs", "valid", "same", "full")
RTOL = 1e-10
# Example counts per test; the "thorough" profile (tests/conftest.py) raises them to its own.
_THOROUGH = settings.default.max_examples > settings.get_profile("default").max_examples
# The chunk-merging warning is expected whenever a drawn chunking is smaller than the halo.
MERGE_WARNING = "the chunks of .* are too small to lend the halo"


def budget(count: int) -> settings:
    return settings(max_examples=settings.default.max_examples if _THOROUGH else count,
                    deadline=None)


@pytest.fixture(autouse=True)
def _synchronous_scheduler():
    # One thread: exceptions surface directly, and the 2-core CI machine is not oversubscribed.
    with dask.config.set(scheduler="synchronous"):
        yield


def allclose(got, want, atol_scale=1.0):
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    scale = max(float(np.abs(want).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale * atol_scale)


@contextlib.contextmanager
def ignoring_merges():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=MERGE_WARNING, category=UserWarning)
        yield


# ---------------------------------------------------------------------------
# Drawn cases
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case(ConvCase):
    seed: int
    x_chunks: tuple[tuple[int, ...], ...]
    dask_weights: bool
    with_bias: bool

    def kwargs(self) -> dict[str, object]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation,
                "groups": self.groups, "padding_mode": self.padding_mode,
                "algorithm": "numpy"}

    def arrays(self):
        rng = np.random.default_rng(self.seed)
        x = rng.uniform(-1, 1, self.x_shape)
        w = rng.uniform(-1, 1, self.w_shape)
        b = rng.uniform(-1, 1, self.out_channels) if self.with_bias else None
        return x, w, b

    def lazy(self, a):
        return da.from_array(a, chunks=self.x_chunks)

    def weights(self, w):
        return da.from_array(w, chunks=1) if self.dask_weights else w


def _accepted(size: int, effective: int, pair: Pair, mode: str) -> bool:
    lo, hi = pair
    if size + lo + hi < effective:
        return False
    if mode == "reflect" and max(lo, hi) > 0:
        return max(lo, hi) < size
    return mode != "circular" or max(lo, hi) <= size


def chunkings(size: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Any split of ``size`` into chunks, single elements included."""
    cuts = st.sets(st.integers(1, size - 1), max_size=min(size - 1, 5)) if size > 1 else st.just(
        set())
    return cuts.map(lambda c: tuple(np.diff([0, *sorted(c), size]).tolist()))


@st.composite
def cases(draw, ndims=(1, 2, 3)) -> Case:
    ndim = draw(st.sampled_from(ndims))
    kernel = tuple(draw(st.integers(1, 3 if ndim < 3 else 2)) for _ in range(ndim))
    groups = draw(st.integers(1, 2))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    batch = draw(st.none() | st.integers(1, 3))
    mode = draw(st.sampled_from(PADDING_MODES))
    form = draw(st.sampled_from(PADDING_FORMS))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    uniform = draw(st.integers(0, 2))
    sizes, pads, args = [], [], []
    for k, s, d in zip(kernel, stride, dilation):
        effective = d * (k - 1) + 1
        pair: Pair = (uniform, uniform)
        arg: object = uniform
        if form == "per_dim":
            p = draw(st.integers(0, 2))
            pair, arg = (p, p), p
        elif form == "pairs":
            pair = arg = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        start = draw(st.integers(1, 12 if ndim < 3 else 6))
        for n in range(start, start + 2 * effective + 8):
            if form in ("valid", "same", "full"):
                pair = string_padding(form, n, k, s, d)
            if _accepted(n, effective, pair, mode):
                break
        sizes.append(n)
        pads.append(pair)
        args.append(arg)
    padding: object = {"int": uniform, "per_dim": tuple(args), "pairs": tuple(args)}.get(form,
                                                                                         form)
    shape = (*(() if batch is None else (batch,)), in_channels, *sizes)
    return Case(
        batch=batch, in_channels=in_channels, out_channels=out_channels, groups=groups,
        in_spatial=tuple(sizes), kernel=kernel, stride=stride, dilation=dilation,
        padding=padding, pads=tuple(pads), padding_mode=mode,
        seed=draw(st.integers(0, 2**32 - 1)),
        x_chunks=tuple(draw(chunkings(n)) for n in shape),
        dask_weights=draw(st.booleans()), with_bias=draw(st.booleans()),
    )


# ---------------------------------------------------------------------------
# conv and conv_grad against NumPy
# ---------------------------------------------------------------------------


@budget(80)
@given(cases())
def test_conv_equals_numpy_for_any_chunking(case):
    x, w, b = case.arrays()
    want = ndconv.conv(x, w, b, **case.kwargs())
    with ignoring_merges():
        got = ndconv.dask.conv(case.lazy(x), case.weights(w), b, **case.kwargs())
    assert isinstance(got, da.Array)
    assert got.shape == want.shape == case.y_shape
    allclose(got.compute(), want)


@budget(50)
@given(cases(), st.integers(1, 4))
def test_conv_grad_equals_numpy_for_any_chunking(case, dy_chunk):
    x, w, _ = case.arrays()
    dy = np.random.default_rng(case.seed + 1).uniform(-1, 1, case.y_shape)
    want = ndconv.conv_grad(dy, x, w, **case.kwargs())
    with ignoring_merges():
        got = ndconv.dask.conv_grad(da.from_array(dy, chunks=dy_chunk), case.lazy(x),
                                    case.weights(w), **case.kwargs())
    for name, lazy, expected in zip(("dx", "dw", "dbias"), got, want):
        assert isinstance(lazy, da.Array), name
        allclose(lazy.compute(), expected, atol_scale=10)


def test_chunks_smaller_than_the_kernel_warn_and_give_the_numpy_result():
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 20, 9))
    w = np.random.default_rng(1).uniform(-1, 1, (4, 3, 5, 3))
    lazy = da.from_array(x, chunks=(1, 1, 2, 1))
    with pytest.warns(UserWarning, match=r"too small .* spatial dim 0 \(smallest chunk 2, halo "
                                         r"4: now 5 output chunks\), spatial dim 1"):
        got = ndconv.dask.conv(lazy, w, padding="same", padding_mode="reflect",
                               algorithm="numpy")
    assert min(got.chunks[2]) >= 4
    allclose(got.compute(), ndconv.conv(x, w, padding="same", padding_mode="reflect",
                                        algorithm="numpy"))


def test_stride_one_keeps_the_chunks_of_the_input():
    x = da.zeros((1, 2, 40, 40), chunks=(1, 1, 10, 20))
    y = ndconv.dask.conv(x, np.ones((3, 2, 3, 3)), padding="same")  # no warning (errors here)
    assert y.chunks == ((1,), (3,), (10, 10, 10, 10), (20, 20))
    valid = ndconv.dask.conv(x, np.ones((3, 2, 3, 3)))
    assert valid.chunks[2:] == ((10, 10, 10, 8), (20, 18))
    strided = ndconv.dask.conv(x, np.ones((3, 2, 3, 3)), stride=2, padding=1)
    assert strided.chunks[2:] == ((5, 5, 5, 5), (10, 10))
    dx, _, _ = ndconv.dask.conv_grad(da.zeros(y.shape), x, np.ones((3, 2, 3, 3)),
                                     padding="same", padding_mode="reflect")
    assert dx.chunks == ((1,), (2,), (10, 10, 10, 10), (20, 20))


def test_batch_chunks_are_kept_and_channels_joined():
    x = da.zeros((6, 4, 8), chunks=(2, 1, 4))
    y = ndconv.dask.conv(x, np.ones((6, 2, 3)), groups=2, padding=1)
    assert y.chunks[:2] == ((2, 2, 2), (6,))


# ---------------------------------------------------------------------------
# correlate and convolve
# ---------------------------------------------------------------------------

DTYPES = (np.float64, np.float32, np.float16, np.int16, np.uint8, np.complex128)


@st.composite
def plain_cases(draw):
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4 if ndim < 3 else 3)) for _ in range(ndim))
    shape = tuple(draw(st.integers(1, 14 if ndim < 3 else 7)) for _ in range(ndim))
    chunks = tuple(draw(chunkings(n)) for n in shape)
    return (kernel, shape, chunks, draw(st.sampled_from(("valid", "same", "full"))),
            draw(st.sampled_from(DTYPES)), draw(st.integers(0, 2**32 - 1)))


@budget(100)
@given(plain_cases(), st.sampled_from(["correlate", "convolve"]))
def test_correlate_and_convolve_equal_numpy(case, name):
    kernel, shape, chunks, mode, dtype, seed = case
    rng = np.random.default_rng(seed)
    a = (rng.uniform(-50, 50, shape) + (1j * rng.uniform(-50, 50, shape)
                                        if dtype == np.complex128 else 0)).astype(dtype)
    k = rng.uniform(-1, 1, kernel)
    eager, lazy = getattr(ndconv, name), getattr(ndconv.dask, name)
    if mode == "valid" and any(n < m for n, m in zip(shape, kernel)):
        with pytest.raises(ValueError, match="mode='valid' needs k no larger than a"):
            lazy(da.from_array(a, chunks=chunks), k, mode, algorithm="numpy")
        return
    want = eager(a, k, mode, algorithm="numpy")
    with ignoring_merges():
        got = lazy(da.from_array(a, chunks=chunks), k, mode, algorithm="numpy")
    assert got.dtype == got._meta.dtype == want.dtype
    if want.dtype == np.float16:  # both round the float32 result; chunk sums may differ by an ulp
        np.testing.assert_allclose(got.compute(), want, rtol=2e-3, atol=1e-2)
    else:
        allclose(got.compute(), want)


def test_correlate_of_zero_dim_arrays_is_their_product():
    got = ndconv.dask.correlate(da.from_array(np.float32(3)), np.float32(2))
    assert got.compute() == 6 and got.dtype == np.float32


# ---------------------------------------------------------------------------
# Laziness, dtypes, the planner
# ---------------------------------------------------------------------------


class Computed(Exception):
    pass


def _explode(block):
    raise Computed


def test_nothing_is_computed_before_compute():
    x = da.ones((2, 3, 16, 16), chunks=(1, 3, 8, 8)).map_blocks(_explode, dtype=float)
    w = da.ones((4, 3, 3, 3)).map_blocks(_explode, dtype=float)
    y = ndconv.dask.conv(x, w, padding="same", padding_mode="circular", stride=2)
    dy = da.ones(y.shape).map_blocks(_explode, dtype=float)
    grads = ndconv.dask.conv_grad(dy, x, w, padding="same",
                                  padding_mode="circular", stride=2)
    c = ndconv.dask.correlate(x[0, 0], w[0, 0], "full")
    for result in (y, *grads, c):
        assert isinstance(result, da.Array)
        with pytest.raises(Computed):
            result.compute()


@pytest.mark.parametrize(("x_dtype", "w_dtype", "expected"), [
    (np.float32, np.float32, np.float32),
    (np.uint8, np.float32, np.float32),
    (np.int16, np.int16, np.float64),
    (np.float16, np.float16, np.float16),
    (np.float32, np.float64, np.float64),
    (np.complex64, np.float32, np.complex64),
])
def test_result_dtype_and_meta_follow_the_dtype_rule(x_dtype, w_dtype, expected):
    x = np.arange(2 * 12 * 12).reshape(2, 12, 12).astype(x_dtype)
    w = np.ones((1, 2, 3, 3), dtype=w_dtype)
    y = ndconv.dask.conv(da.from_array(x, chunks=(2, 5, 5)), w, algorithm="numpy")
    assert y.dtype == y._meta.dtype == expected
    computed = y.compute()
    assert computed.dtype == expected
    np.testing.assert_allclose(computed, ndconv.conv(x, w, algorithm="numpy"), rtol=1e-3)


def test_auto_plans_every_chunk_by_its_own_shape(monkeypatch):
    planned = []
    choose = ndconv.api.choose_algorithm

    def spy(spec, *args, **kwargs):
        planned.append(spec.in_spatial)
        return choose(spec, *args, **kwargs)

    monkeypatch.setattr(ndconv.api, "choose_algorithm", spy)
    x = da.zeros((1, 1, 64, 40), chunks=(1, 1, 32, 40))
    ndconv.dask.conv(x, np.ones((1, 1, 3, 3)), padding="same").compute()
    # Rows: 1 pad + 32 + 1 halo row below, then 1 halo row above + 32 + 1 pad; columns:
    # 40 + 2 pad, one chunk.
    assert sorted(planned) == [(34, 42), (34, 42)]


def test_empty_work_gives_zeros_and_bias():
    b = np.array([1.0, 2.0])
    cases = [
        ((0, 3, 5), (2, 3, 2)),  # no samples
        ((1, 0, 5), (2, 0, 2)),  # no input channels: bias only
    ]
    for x_shape, w_shape in cases:
        x, w = np.zeros(x_shape), np.zeros(w_shape)
        got = ndconv.dask.conv(da.from_array(x), w, b, padding=1).compute()
        np.testing.assert_array_equal(got, ndconv.conv(x, w, b, padding=1))
    got = ndconv.dask.conv(da.zeros((1, 1, 0)), np.ones((2, 1, 2)), b, padding=1).compute()
    np.testing.assert_array_equal(got, ndconv.conv(np.zeros((1, 1, 0)), np.ones((2, 1, 2)), b,
                                                   padding=1))


def test_is_dask_array_does_not_import_dask():
    code = ("import sys, numpy, ndconv.dask\n"
            "assert not ndconv.dask.is_dask_array(numpy.zeros(2))\n"
            "assert 'dask' not in sys.modules, sorted(m for m in sys.modules if 'dask' in m)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# Bad arguments: the messages of ndconv.api, before any graph exists
# ---------------------------------------------------------------------------


def test_bad_arguments_raise_before_building_a_graph():
    x = da.zeros((1, 3, 8, 8), chunks=4)
    with pytest.raises(ValueError, match="x has 3 channels but w expects"):
        ndconv.dask.conv(x, np.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="did you mean 'same'"):
        ndconv.dask.conv(x, np.zeros((2, 3, 3, 3)), padding="sme")
    with pytest.raises(ValueError, match="padding_mode='reflect' needs padding smaller"):
        ndconv.dask.conv(x, np.zeros((2, 3, 3, 3)), padding=8, padding_mode="reflect")
    with pytest.raises(ValueError, match="algorithm"):
        ndconv.dask.conv(x, np.zeros((2, 3, 3, 3)), algorithm="winograd-fast")
    with pytest.raises(TypeError, match="x has dtype object"):
        ndconv.dask.conv(x.astype(object), np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="dy must have the shape conv"):
        ndconv.dask.conv_grad(da.zeros((1, 2, 5, 5)), x, np.zeros((2, 3, 3, 3)))
    with pytest.raises(TypeError, match="complex dtype"):
        ndconv.dask.conv_grad(da.zeros((1, 2, 6, 6)), x.astype(complex), np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="mode='vald' is not valid"):
        ndconv.dask.correlate(x[0, 0], np.ones((2, 2)), mode="vald")
    with pytest.raises(ValueError, match="a and k must have the same number of dims"):
        ndconv.dask.convolve(x[0], np.ones((2, 2)))
    unknown = x[x[:, 0, 0, 0] > 0]
    with pytest.raises(ValueError, match=r"unknown chunk sizes .*compute_chunk_sizes"):
        ndconv.dask.conv(unknown, np.zeros((2, 3, 3, 3)))


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


@pytest.fixture
def image():
    return np.random.default_rng(7).integers(0, 255, (61, 47)).astype(np.uint8)


KERNEL = np.arange(12.0).reshape(4, 3) / 66


@pytest.mark.parametrize("source", ["in.npy", "in.tif", "in_f.npy"])
@pytest.mark.parametrize("target", ["out.npy", "out.tiff"])
def test_filter_file_writes_the_feature_map(tmp_path, image, source, target):
    if source == "in.tif":
        tifffile.imwrite(tmp_path / source, image)
    else:
        np.save(tmp_path / source, np.asfortranarray(image) if "_f" in source else image)
    out = ndconv.dask.filter_file(tmp_path / source, tmp_path / target, KERNEL, padding="same",
                                  chunks=(9, 20), progress=False)
    got = np.load(out) if target.endswith(".npy") else tifffile.imread(out)
    allclose(got, filter_image(image, KERNEL, padding="same"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({source, target})


def test_filter_file_default_chunks_are_bands(tmp_path, image, capsys):
    np.save(tmp_path / "in.npy", image)
    ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "out.npy", KERNEL)
    allclose(np.load(tmp_path / "out.npy"), filter_image(image, KERNEL))
    assert "100% Completed" in capsys.readouterr().err


@pytest.mark.parametrize("options", [
    {"stride": 2, "padding": "same", "padding_mode": "reflect"},
    {"dilation": (2, 1), "padding": (3, 0), "padding_mode": "circular"},
])
def test_filter_file_filters_each_colour_channel_with_every_conv_option(tmp_path, options):
    colour = np.random.default_rng(8).random((40, 33, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "rgb.tif", colour, photometric="rgb")
    out = ndconv.dask.filter_file(tmp_path / "rgb.tif", tmp_path / "o.tif", KERNEL,
                                  chunks=(7, 11, 3), dtype="float64", absolute=True,
                                  progress=False, **options)
    got = tifffile.imread(out)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.abs(filter_image(colour, KERNEL, **options)),
                               rtol=1e-5, atol=1e-5)


def test_filter_file_replaces_only_when_forced_and_never_its_source(tmp_path, image):
    np.save(tmp_path / "in.npy", image)
    np.save(tmp_path / "out.npy", np.zeros(3))
    with pytest.raises(FileExistsError, match="exists; pass force=True"):
        ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "out.npy", KERNEL)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), np.zeros(3))
    with pytest.raises(ValueError, match="is the same file as src"):
        ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "in.npy", KERNEL, force=True)
    ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "out.npy", KERNEL, padding="same",
                            force=True, progress=False)
    assert np.load(tmp_path / "out.npy").shape == image.shape


class Interrupted(Exception):
    pass


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, image, monkeypatch):
    np.save(tmp_path / "in.npy", image)
    np.save(tmp_path / "out.npy", np.zeros(3))
    writes = []

    def fail_on_third_write(self, key, value):
        writes.append(key)
        if len(writes) == 3:
            raise Interrupted

    monkeypatch.setattr(ndconv.dask._RawArray, "__setitem__", fail_on_third_write)
    with pytest.raises(Interrupted):
        ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "out.npy", KERNEL,
                                   chunks=10, force=True, progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), np.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "out.npy"]


def test_filter_file_rejects_what_it_cannot_stream(tmp_path, image):
    tifffile.imwrite(tmp_path / "zip.tif", image, compression="zlib")
    np.save(tmp_path / "in.npy", image)
    with pytest.raises(ValueError, match="compressed or non-contiguous TIFF"):
        ndconv.dask.filter_file(tmp_path / "zip.tif", tmp_path / "o.npy", KERNEL)
    with pytest.raises(ValueError, match=r"dst='.*o\.png' has an unsupported extension"):
        ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "o.png", KERNEL)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ndconv.dask.filter_file(tmp_path / "missing.npy", tmp_path / "o.npy", KERNEL)
    with pytest.raises(ValueError, match="kernel must have as many dims as the image"):
        ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "o.npy", np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "o.npy", KERNEL, dtype="uint8")
    with pytest.raises(ValueError, match=r"chunks must be None, a positive int or 2"):
        ndconv.dask.filter_file(tmp_path / "in.npy", tmp_path / "o.npy", KERNEL,
                                   chunks=(4, 0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "zip.tif"]


def test_raw_regions_round_trip(tmp_path):
    # Runs along the last axis, whole trailing axes merged into one run, F order, big-endian.
    data = np.arange(4 * 5 * 6, dtype=">i4").reshape(4, 5, 6)
    keys = [(slice(1, 3), slice(0, 5), slice(0, 6)), (slice(0, 4), slice(2, 4), slice(1, 5)),
            (slice(3, 4), slice(4, 5), slice(0, 6)), (slice(0, 4), slice(0, 5), slice(0, 6))]
    for order in ("C", "F"):
        for key in keys:
            path = tmp_path / f"{order}.npy"
            np.save(path, np.asarray(data, order=order))
            raw = ndconv.dask._open_raw(path)
            assert (raw.order, raw.dtype, raw.shape) == (order, data.dtype, data.shape)
            np.testing.assert_array_equal(raw[key], data[key])
            raw[key] = -data[key]
            expected = data.copy()
            expected[key] *= -1
            np.testing.assert_array_equal(np.load(path), expected)


# ---------------------------------------------------------------------------
# The public entry points hand dask arrays to ndconv.dask
# ---------------------------------------------------------------------------


def test_public_functions_return_lazy_results_for_dask_inputs():
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 3, 20, 17)), rng.standard_normal((4, 3, 3, 3))
    lazy_x = da.from_array(x, chunks=(1, 3, 7, 9))
    y = ndconv.conv(lazy_x, w, padding="same", stride=2)
    assert isinstance(y, da.Array)
    allclose(y.compute(), ndconv.conv(x, w, padding="same", stride=2))
    dy = rng.standard_normal((2, 4, 18, 15))
    for lazy, want in zip(ndconv.conv_grad(da.from_array(dy), lazy_x, w),
                          ndconv.conv_grad(dy, x, w)):
        assert isinstance(lazy, da.Array)
        allclose(lazy.compute(), want)
    image, k = rng.standard_normal((30, 22)), rng.standard_normal((4, 5))
    for name in ("correlate", "convolve"):
        lazy = getattr(ndconv, name)(da.from_array(image, chunks=8), k, "same")
        assert isinstance(lazy, da.Array)
        allclose(lazy.compute(), getattr(ndconv, name)(image, k, "same"))


def test_out_and_conv_transpose_refuse_dask_arrays():
    lazy = da.ones((1, 1, 8, 8), chunks=4)
    with pytest.raises(TypeError, match="out= cannot be used with dask arrays"):
        ndconv.conv(lazy, np.ones((1, 1, 3, 3)), out=np.empty((1, 1, 6, 6)))
    with pytest.raises(TypeError, match="conv_transpose does not take dask arrays"):
        ndconv.conv_transpose(lazy, np.ones((1, 1, 3, 3)))
