"""Public behaviour of ndconv.api: the seed exercise, dtypes, layouts and edge sizes."""

import subprocess
import sys

import numpy as np
import pytest

import ndconv
from ndconv.examples import seed_image, seed_kernel


def double_loop_correlate(image, kernel):
    """The seed's exercise written by hand: a 3x3 kernel over a 2-D image, valid positions."""
    rows, cols = image.shape[0] - 2, image.shape[1] - 2
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            total = 0.0
            for a in range(3):
                for b in range(3):
                    total += image[i + a, j + b] * kernel[a, b]
            out[i, j] = total
    return out


@pytest.mark.parametrize("shape", [(8, 8), (12, 10), (10, 10), (12, 8)])
@pytest.mark.parametrize("algorithm", ["auto", "reference", "numpy"])
def test_seed_exercise_matches_a_hand_written_double_loop(shape, algorithm):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape).astype(np.float64)
    kernel = rng.standard_normal((3, 3))
    expected = double_loop_correlate(image, kernel)
    np.testing.assert_allclose(
        ndconv.correlate(image, kernel, algorithm=algorithm), expected, rtol=1e-12, atol=1e-9
    )


def test_seed_feature_map_is_the_hand_computed_one():
    # out[i, j] = image[i, j] - image[i + 1, j + 1], worked out by hand from examples.py.
    expected = np.array([[0, -1, -2], [-1, 1, 2], [2, -1, -3]], dtype=float)
    np.testing.assert_array_equal(ndconv.correlate(seed_image(), seed_kernel()), expected)
    np.testing.assert_array_equal(
        ndconv.conv(seed_image()[None], seed_kernel()[None, None]), expected[None]
    )


def test_explain_prints_the_seed_feature_map():
    result = subprocess.run(
        [sys.executable, "-m", "ndconv", "explain"], capture_output=True, text=True, check=True
    )
    assert "out[1, 2] = 3*1 + 2*0 + 0*0 + 1*(-1) = 2" in result.stdout
    assert result.stdout.rstrip().endswith(" 2  -1  -3")


def test_convolve_flips_and_correlate_does_not():
    a = np.array([0.0, 1.0, 0.0, 0.0])
    k = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ndconv.correlate(a, k, mode="full"), [0, 3, 2, 1, 0, 0])
    np.testing.assert_array_equal(ndconv.convolve(a, k, mode="full"), [0, 1, 2, 3, 0, 0])


def test_complex_kernel_is_not_conjugated():
    a = np.array([1.0, 2.0, 3.0])
    k = np.array([1j])
    np.testing.assert_array_equal(ndconv.correlate(a, k), [1j, 2j, 3j])
    out = ndconv.conv(a[None], k[None, None])
    assert out.dtype == np.complex128
    np.testing.assert_array_equal(out, [[1j, 2j, 3j]])


@pytest.mark.parametrize(
    ("x_dtype", "w_dtype", "expected"),
    [
        (np.float32, np.float32, np.float32),
        (np.float64, np.float64, np.float64),
        (np.float16, np.float16, np.float16),
        (np.float32, np.float64, np.float64),
        (np.uint8, np.float32, np.float32),
        (np.uint8, np.int16, np.float64),
        (np.int64, np.int64, np.float64),
        (np.bool_, np.bool_, np.float64),
        (np.int8, np.float16, np.float16),
        (np.complex64, np.float32, np.complex64),
    ],
)
def test_result_dtype_rule(x_dtype, w_dtype, expected):
    x = np.ones((1, 2, 5, 5), dtype=x_dtype)
    w = np.ones((3, 2, 3, 3), dtype=w_dtype)
    out = ndconv.conv(x, w)
    assert out.dtype == expected
    np.testing.assert_array_equal(out, np.full((1, 3, 3, 3), 18))


def test_integers_never_wrap():
    image = np.full((4, 4), 255, dtype=np.uint8)
    kernel = np.full((3, 3), 255, dtype=np.uint8)
    np.testing.assert_array_equal(ndconv.correlate(image, kernel), np.full((2, 2), 9 * 255**2))


def test_bool_inputs_are_counted_not_ored():
    out = ndconv.correlate(np.ones(4, dtype=bool), np.ones(3, dtype=bool))
    np.testing.assert_array_equal(out, [3.0, 3.0])


def test_float16_accumulates_in_float32():
    # 4096 ones summed in float16 would stall at 2048; float32 accumulation gives 4096.
    out = ndconv.correlate(np.ones(4096, np.float16), np.ones(4096, np.float16))
    assert out.dtype == np.float16
    assert out[0] == 4096


def test_zero_dim_correlate_is_a_product():
    assert ndconv.correlate(np.array(2), np.array(3)) == 6
    assert ndconv.correlate(np.array(2), np.array(3)).shape == ()


def test_bias_is_added_per_channel():
    x = np.zeros((2, 1, 4))
    w = np.zeros((3, 1, 2))
    out = ndconv.conv(x, w, bias=[1.0, 2.0, 3.0])
    np.testing.assert_array_equal(out, np.broadcast_to(np.array([1.0, 2.0, 3.0])[:, None],
                                                       (2, 3, 3)))


def test_unbatched_equals_batch_of_one():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), np.ones(4)
    kwargs = {"stride": (2, 1), "padding": "same", "padding_mode": "circular"}
    np.testing.assert_array_equal(ndconv.conv(x, w, b, **kwargs),
                                  ndconv.conv(x[None], w, b, **kwargs)[0])
    dy = rng.standard_normal(ndconv.conv(x, w, **kwargs).shape)
    grads = ndconv.conv_grad(dy, x, w, **kwargs)
    batched = ndconv.conv_grad(dy[None], x[None], w, **kwargs)
    np.testing.assert_array_equal(grads[0], batched[0][0])
    np.testing.assert_array_equal(grads[1], batched[1])
    np.testing.assert_array_equal(grads[2], batched[2])


def _layouts(a):
    """The same values in layouts a caller may hand in."""
    fortran = np.asfortranarray(a)
    reversed_view = a[..., ::-1].copy()[..., ::-1]
    strided = np.repeat(a, 2, axis=-1)[..., ::2]
    read_only = a.copy()
    read_only.setflags(write=False)
    broadcast = np.broadcast_to(a[:1], a.shape) if a.shape[0] == 1 else a
    return {"fortran": fortran, "negative_strides": reversed_view, "strided": strided,
            "read_only": read_only, "broadcast": broadcast}


@pytest.mark.parametrize("layout", ["fortran", "negative_strides", "strided", "read_only",
                                    "broadcast"])
def test_any_layout_equals_contiguous_and_is_left_unchanged(layout):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 6, 7))
    w = rng.standard_normal((3, 2, 3, 2))
    dy = rng.standard_normal((1, 3, 6, 7))
    kwargs = {"padding": "same", "padding_mode": "reflect"}
    expected = ndconv.conv(x, w, **kwargs)
    expected_grads = ndconv.conv_grad(dy, x, w, **kwargs)
    xl, wl, dyl = _layouts(x)[layout], _layouts(w)[layout], _layouts(dy)[layout]
    before = [a.copy() for a in (xl, wl, dyl)]
    np.testing.assert_array_equal(ndconv.conv(xl, wl, **kwargs), expected)
    for got, want in zip(ndconv.conv_grad(dyl, xl, wl, **kwargs), expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for array, copy in zip((xl, wl, dyl), before):
        np.testing.assert_array_equal(array, copy)


def test_inputs_are_never_modified():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 2, 5)), rng.standard_normal((2, 2, 3)), np.ones(2)
    copies = [x.copy(), w.copy(), b.copy()]
    ndconv.conv(x, w, b, padding=2, padding_mode="replicate")
    ndconv.conv_transpose(x, w, b, stride=2)
    ndconv.conv_grad(np.ones((2, 2, 3)), x, w)
    for array, copy in zip((x, w, b), copies):
        np.testing.assert_array_equal(array, copy)


def test_empty_batch_gives_empty_result():
    out = ndconv.conv(np.zeros((0, 3, 5, 5)), np.ones((2, 3, 3, 3)))
    assert out.shape == (0, 2, 3, 3)
    dx, dw, db = ndconv.conv_grad(np.zeros((0, 2, 3, 3)), np.zeros((0, 3, 5, 5)),
                                  np.ones((2, 3, 3, 3)))
    assert dx.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(dw, np.zeros((2, 3, 3, 3)))
    np.testing.assert_array_equal(db, np.zeros(2))


def test_zero_input_channels_gives_the_bias():
    out = ndconv.conv(np.zeros((1, 0, 5)), np.zeros((2, 0, 3)), bias=[1.0, -1.0])
    np.testing.assert_array_equal(out, [[[1.0] * 3, [-1.0] * 3]])


def test_zero_output_channels():
    assert ndconv.conv(np.ones((1, 2, 5)), np.ones((0, 2, 3))).shape == (1, 0, 3)


def test_empty_spatial_input_with_padding_is_defined():
    out = ndconv.conv(np.zeros((1, 1, 0)), np.ones((1, 1, 3)), bias=[2.0], padding=2)
    np.testing.assert_array_equal(out, [[[2.0, 2.0]]])


def test_non_numeric_input_is_rejected_before_work():
    with pytest.raises(TypeError, match="x has dtype"):
        ndconv.conv(np.array([["a"]]), np.ones((1, 1, 1)))


def test_public_names():
    assert sorted(ndconv.__all__) == sorted(
        ["Plan", "__version__", "autotune", "conv", "conv_grad", "conv_transpose", "convolve",
         "correlate", "explain", "get_num_threads", "get_workspace_limit", "nn", "output_shape",
         "plan", "set_num_threads", "set_workspace_limit"]
    )


# ---- out= -------------------------------------------------------------------------------


def _rng_arrays(*shapes, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_conv_writes_into_out_and_returns_it(batched, dtype):
    x, w, b = _rng_arrays((2, 3, 9, 9), (4, 3, 3, 3), (4,), dtype=dtype)
    if not batched:
        x = x[0]
    expected = ndconv.conv(x, w, b, padding=1)
    out = np.full(expected.shape, np.nan, dtype=dtype)
    assert ndconv.conv(x, w, b, padding=1, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_a_non_contiguous_out_is_filled_too():
    x, w = _rng_arrays((1, 1, 8, 8), (1, 1, 3, 3))
    expected = ndconv.conv(x, w)
    holder = np.zeros((1, 1, 6, 12), np.float32)
    out = holder[..., ::2]
    ndconv.conv(x, w, out=out)
    np.testing.assert_array_equal(out, expected)
    assert not holder[..., 1::2].any()


def test_conv_transpose_correlate_convolve_take_out():
    x, w = _rng_arrays((2, 4, 5, 5), (4, 3, 3, 3))
    expected = ndconv.conv_transpose(x, w, stride=2)
    out = np.empty_like(expected)
    assert ndconv.conv_transpose(x, w, stride=2, out=out) is out
    np.testing.assert_array_equal(out, expected)
    a, k = _rng_arrays((10, 10), (3, 4))
    for function in (ndconv.correlate, ndconv.convolve):
        expected = function(a, k, "same")
        out = np.empty_like(expected)
        assert function(a, k, "same", out=out) is out
        np.testing.assert_array_equal(out, expected)


def test_conv_grad_fills_the_given_outputs():
    x, w, dy = _rng_arrays((2, 3, 7, 7), (4, 3, 3, 3), (2, 4, 5, 5))
    dx, dw, db = ndconv.conv_grad(dy, x, w)
    outs = (np.empty_like(dx), None, np.empty_like(db))
    got = ndconv.conv_grad(dy, x, w, out=outs)
    assert got[0] is outs[0] and got[2] is outs[2]
    for a, b in zip(got, (dx, dw, db)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("make_out", "error", "match"),
    [
        (lambda y, x: y.tolist(), TypeError, "out must be a numpy.ndarray or None; got list"),
        (lambda y, x: np.empty((1, 1, 6, 7), np.float32), ValueError,
         r"out must have shape \(1, 1, 6, 6\) \(the result's\); got out.shape=\(1, 1, 6, 7\)"),
        (lambda y, x: np.empty_like(y, dtype=np.float64), ValueError,
         "out must have dtype float32 .* got out.dtype=float64"),
        (lambda y, x: np.broadcast_to(np.float32(0), y.shape), ValueError, "out is read-only"),
        (lambda y, x: x[..., :6, :6], ValueError, "out must not share memory with x"),
    ],
)
def test_bad_out_is_refused_before_any_work(make_out, error, match):
    x, w = _rng_arrays((1, 1, 8, 8), (1, 1, 3, 3))
    before = x.copy()
    with pytest.raises(error, match=match):
        ndconv.conv(x, w, out=make_out(ndconv.conv(x, w), x))
    np.testing.assert_array_equal(x, before)


def test_conv_grad_out_must_be_a_triple():
    x, w, dy = _rng_arrays((1, 1, 5), (1, 1, 3), (1, 1, 3))
    with pytest.raises(TypeError, match=r"out must be a tuple \(dx, dw, dbias\)"):
        ndconv.conv_grad(dy, x, w, out=np.empty((1, 1, 5), np.float32))
    with pytest.raises(ValueError, match=r"out\[1\] must have shape \(1, 1, 3\)"):
        ndconv.conv_grad(dy, x, w, out=(None, np.empty((1, 1, 4), np.float32), None))


def test_repeated_calls_with_out_allocate_nothing_large():
    import tracemalloc

    x, w = _rng_arrays((1, 1, 512, 512), (1, 1, 3, 3))
    out = np.empty((1, 1, 512, 512), np.float32)
    for _ in range(2):  # the first call may compile and plan
        ndconv.conv(x, w, padding=1, out=out, algorithm="direct")
    tracemalloc.start()
    try:
        ndconv.conv(x, w, padding=1, out=out, algorithm="direct")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < out.nbytes // 20  # no padded copy, no second output
