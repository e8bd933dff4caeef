"""Shape arithmetic and argument validation (ndconv._shapes), through the public API.

Each error case pins the exception type and the part of the message that
names the argument, the value and what was expected.
"""

import numpy as np
import pytest

import ndconv
from ndconv._shapes import conv_output_size, same_padding, transpose_output_size

X2 = np.ones((1, 3, 6, 6))
W2 = np.ones((4, 3, 3, 3))

# (description, call, exception, message pattern)
CONV_ERRORS = [
    ("w rank too small", lambda: ndconv.conv(X2, np.ones((4, 3))), ValueError,
     r"w must have at least 3 dims .* got w.ndim=2"),
    ("x rank mismatch", lambda: ndconv.conv(np.ones((6, 6)), W2), ValueError,
     r"x must have 4 dims \(N, C, \*spatial\) or 3 dims .* got x.ndim=2"),
    ("x rank too large", lambda: ndconv.conv(np.ones((1, 1, 3, 6, 6)), W2), ValueError,
     r"got x.ndim=5"),
    ("channel mismatch", lambda: ndconv.conv(X2, np.ones((4, 2, 3, 3))), ValueError,
     r"x has 3 channels but w expects w.shape\[1\] \* groups = 2 \* 1 = 2"),
    ("groups mismatch", lambda: ndconv.conv(X2, W2, groups=3), ValueError,
     r"x has 3 channels but w expects w.shape\[1\] \* groups = 3 \* 3 = 9"),
    ("groups not dividing C_out",
     lambda: ndconv.conv(np.ones((1, 4, 6, 6)), np.ones((3, 2, 3, 3)), groups=2), ValueError,
     r"groups=2 must divide the number of output channels w.shape\[0\]=3"),
    ("groups zero", lambda: ndconv.conv(X2, W2, groups=0), ValueError,
     r"groups must be positive; got groups=0"),
    ("groups bool", lambda: ndconv.conv(X2, W2, groups=True), TypeError,
     r"groups must be an int; got True \(bool\)"),
    ("groups float", lambda: ndconv.conv(X2, W2, groups=1.0), TypeError,
     r"groups must be an int; got 1.0 \(float\)"),
    ("kernel side zero", lambda: ndconv.conv(X2, np.ones((4, 3, 0, 3))), ValueError,
     r"every kernel size must be at least 1; got w.shape=\(4, 3, 0, 3\)"),
    ("kernel larger than input", lambda: ndconv.conv(X2, np.ones((4, 3, 7, 3))), ValueError,
     r"kernel is larger than the padded input along spatial dim 0: .* 7 > padded input size 6"),
    ("dilated kernel larger than input", lambda: ndconv.conv(X2, W2, dilation=3), ValueError,
     r"effective kernel size dilation\*\(k-1\)\+1 = 7 > padded input size 6"),
    ("stride zero", lambda: ndconv.conv(X2, W2, stride=0), ValueError,
     r"stride must be positive; got stride=0"),
    ("stride negative in tuple", lambda: ndconv.conv(X2, W2, stride=(1, -2)), ValueError,
     r"stride\[1\] must be positive; got stride\[1\]=-2"),
    ("stride float", lambda: ndconv.conv(X2, W2, stride=1.5), TypeError,
     r"stride must be an int; got 1.5 \(float\)"),
    ("stride string", lambda: ndconv.conv(X2, W2, stride="2"), TypeError,
     r"stride must be an int; got '2' \(str\)"),
    ("stride wrong length", lambda: ndconv.conv(X2, W2, stride=(1, 2, 3)), ValueError,
     r"stride must be an int or a sequence of 2 ints \(one per spatial dim\); "
     r"got stride=\(1, 2, 3\) with 3 entries"),
    ("dilation zero", lambda: ndconv.conv(X2, W2, dilation=0), ValueError,
     r"dilation must be positive; got dilation=0"),
    ("negative padding", lambda: ndconv.conv(X2, W2, padding=-1), ValueError,
     r"padding must be >= 0; got padding=-1"),
    ("negative padding pair", lambda: ndconv.conv(X2, W2, padding=[(0, 1), (-1, 0)]), ValueError,
     r"padding\[1\]\[0\] must be >= 0; got padding\[1\]\[0\]=-1"),
    ("padding wrong length", lambda: ndconv.conv(X2, W2, padding=(1, 1, 1)), ValueError,
     r"padding must be an int, a string, 2 ints or 2 \(lo, hi\) pairs"),
    ("padding triple", lambda: ndconv.conv(X2, W2, padding=[(1, 2, 3), 1]), ValueError,
     r"padding\[0\] must be an int or a \(lo, hi\) pair; got \(1, 2, 3\)"),
    ("padding NaN", lambda: ndconv.conv(X2, W2, padding=float("nan")), TypeError,
     r"padding must be an int; got nan \(float\)"),
    ("unknown padding string", lambda: ndconv.conv(X2, W2, padding="sme"), ValueError,
     r"padding='sme' is not valid; expected one of 'valid', 'same', 'full' "
     r"\(did you mean 'same'\?\)"),
    ("unknown padding_mode", lambda: ndconv.conv(X2, W2, padding_mode="mirror"), ValueError,
     r"padding_mode='mirror' is not valid; expected one of 'zeros', 'reflect', 'replicate', "
     r"'circular'"),
    ("padding_mode typo", lambda: ndconv.conv(X2, W2, padding_mode="reflct"), ValueError,
     r"\(did you mean 'reflect'\?\)"),
    ("reflect pad too large", lambda: ndconv.conv(X2, W2, padding=6, padding_mode="reflect"),
     ValueError, r"padding_mode='reflect' needs padding smaller than the input size; "
     r"got padding \(6, 6\) on spatial dim 0 of size 6"),
    ("circular pad too large", lambda: ndconv.conv(X2, W2, padding=7, padding_mode="circular"),
     ValueError, r"padding_mode='circular' needs padding no larger than the input size"),
    ("replicate of empty input",
     lambda: ndconv.conv(np.ones((1, 3, 0, 6)), W2, padding=2, padding_mode="replicate"),
     ValueError, r"padding_mode='replicate' needs a non-empty input"),
    ("bias shape", lambda: ndconv.conv(X2, W2, np.ones(3)), ValueError,
     r"bias must have shape \(4,\) \(one value per output channel\); got bias.shape=\(3,\)"),
    ("string dtype", lambda: ndconv.conv(np.full((1, 3, 6, 6), "a"), W2), TypeError,
     r"x has dtype <U1; expected a numeric array"),
    ("object dtype", lambda: ndconv.conv(X2, W2.astype(object)), TypeError,
     r"w has dtype object; expected a numeric array"),
    ("datetime dtype",
     lambda: ndconv.conv(X2, W2, np.zeros(4, dtype="datetime64[s]")), TypeError,
     r"bias has dtype datetime64\[s\]; expected a numeric array"),
    ("ragged input", lambda: ndconv.conv([[[1, 2], [3]]], W2), ValueError,
     r"x must be a rectangular numeric array; got a ragged nested sequence"),
    ("unknown algorithm", lambda: ndconv.conv(X2, W2, algorithm="refernce"), ValueError,
     r"algorithm='refernce' is not valid; expected one of 'auto', 'direct', 'fft', 'numpy', "
     r"'reference', 'small' "
     r"\(did you mean 'reference'\?\)"),
    ("transpose output_padding >= stride and dilation",
     lambda: ndconv.conv_transpose(X2, np.ones((3, 2, 3, 3)), stride=2, output_padding=2),
     ValueError, r"output_padding must be smaller than stride or dilation; "
     r"got output_padding\[0\]=2 with stride\[0\]=2, dilation\[0\]=1"),
    ("transpose channel mismatch", lambda: ndconv.conv_transpose(X2, np.ones((2, 2, 3, 3))),
     ValueError, r"x has 3 channels but conv_transpose expects w.shape\[0\]=2"),
    ("transpose string padding", lambda: ndconv.conv_transpose(X2, np.ones((3, 2, 3, 3)),
                                                                padding="same"),
     TypeError, r"conv_transpose takes integer padding"),
    ("transpose padding eats output",
     lambda: ndconv.conv_transpose(np.ones((1, 3, 1, 1)), np.ones((3, 2, 1, 1)), padding=1),
     ValueError, r"padding=1 is too large: the transposed output would have size -1"),
    ("transpose groups", lambda: ndconv.conv_transpose(X2, np.ones((3, 2, 3, 3)), groups=2),
     ValueError, r"groups=2 must divide the number of input channels w.shape\[0\]=3"),
    ("grad dy shape", lambda: ndconv.conv_grad(np.ones((1, 4, 3, 3)), X2, W2), ValueError,
     r"dy must have the shape conv\(x, w\) returns for these arguments, \(1, 4, 4, 4\); "
     r"got dy.shape=\(1, 4, 3, 3\)"),
    ("grad complex", lambda: ndconv.conv_grad(np.ones((1, 4, 4, 4)), X2, W2.astype(complex)),
     TypeError, r"w has complex dtype complex128; this function is defined for real dtypes"),
    ("correlate rank mismatch", lambda: ndconv.correlate(np.ones((4, 4)), np.ones(3)),
     ValueError, r"a and k must have the same number of dims; got a.ndim=2"),
    ("correlate unknown mode", lambda: ndconv.correlate(np.ones(4), np.ones(3), mode="vald"),
     ValueError, r"mode='vald' is not valid; expected one of 'valid', 'same', 'full' "
     r"\(did you mean 'valid'\?\)"),
    ("correlate valid with larger kernel",
     lambda: ndconv.correlate(np.ones((4, 4)), np.ones((5, 3))), ValueError,
     r"mode='valid' needs k no larger than a along every axis"),
    ("correlate empty kernel", lambda: ndconv.convolve(np.ones(4), np.ones(0), mode="full"),
     ValueError, r"k must not be empty; got k.shape=\(0,\)"),
    ("correlate empty input", lambda: ndconv.correlate(np.ones(0), np.ones(2), mode="full"),
     ValueError, r"a must not be empty; got a.shape=\(0,\)"),
    ("output_shape NaN shape", lambda: ndconv.output_shape((1, 3, float("nan")), (4, 3, 3)),
     TypeError, r"x_shape\[2\] must be an int; got nan \(float\)"),
    ("output_shape negative shape", lambda: ndconv.output_shape((1, 3, -5), (4, 3, 3)),
     ValueError, r"x_shape\[2\] must be >= 0; got x_shape\[2\]=-5"),
    ("output_shape not a sequence", lambda: ndconv.output_shape(5, (4, 3, 3)), TypeError,
     r"x_shape must be a sequence of ints; got 5"),
    ("output_padding without transposed",
     lambda: ndconv.output_shape((1, 3, 8), (4, 3, 3), output_padding=1), ValueError,
     r"output_padding only applies with transposed=True"),
]


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [pytest.param(call, error, pattern, id=name) for name, call, error, pattern in CONV_ERRORS],
)
def test_bad_arguments_raise_a_named_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_error_table_is_broad():
    assert len(CONV_ERRORS) >= 40


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "expected"),
    [
        ((1, 3, 32, 32), (16, 3, 3, 3), {}, (1, 16, 30, 30)),
        ((3, 32, 32), (16, 3, 3, 3), {"padding": 1}, (16, 32, 32)),
        ((2, 4, 9), (6, 2, 3), {"groups": 2, "stride": 2}, (2, 6, 4)),
        ((1, 1, 10, 11), (1, 1, 3, 4), {"padding": "same"}, (1, 1, 10, 11)),
        ((1, 1, 10, 11), (1, 1, 3, 4), {"padding": "same", "stride": 3}, (1, 1, 4, 4)),
        ((1, 1, 10), (1, 1, 3), {"padding": "full", "dilation": 2}, (1, 1, 14)),
        ((1, 1, 10), (1, 1, 3), {"padding": [(0, 3)]}, (1, 1, 11)),
        ((1, 1, 5, 5, 5, 5), (2, 1, 3, 3, 3, 3), {"stride": (1, 2, 1, 2)}, (1, 2, 3, 2, 3, 2)),
        ((1, 3, 0, 4), (2, 3, 3, 3), {"padding": 2}, (1, 2, 2, 6)),
        ((0, 3, 5, 5), (2, 3, 3, 3), {}, (0, 2, 3, 3)),
    ],
)
def test_output_shape_matches_conv(x_shape, w_shape, kwargs, expected):
    assert ndconv.output_shape(x_shape, w_shape, **kwargs) == expected
    assert ndconv.conv(np.zeros(x_shape), np.zeros(w_shape), **kwargs).shape == expected


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "expected"),
    [
        ((1, 4, 5, 5), (4, 2, 3, 3), {}, (1, 2, 7, 7)),
        ((1, 4, 5, 5), (4, 2, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1},
         (1, 2, 10, 10)),
        ((4, 5), (4, 3, 2), {"groups": 2, "stride": 3}, (6, 14)),
        ((1, 2, 4), (2, 1, 3), {"stride": 1, "dilation": 3, "output_padding": 2}, (1, 1, 12)),
    ],
)
def test_transposed_output_shape_matches_conv_transpose(x_shape, w_shape, kwargs, expected):
    assert ndconv.output_shape(x_shape, w_shape, transposed=True, **kwargs) == expected
    assert ndconv.conv_transpose(np.zeros(x_shape), np.zeros(w_shape), **kwargs).shape == expected


@pytest.mark.parametrize("size", range(1, 12))
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
def test_same_padding_gives_ceil_of_size_over_stride(size, kernel, stride, dilation):
    pads = same_padding(size, kernel, stride=stride, dilation=dilation)
    assert pads[1] - pads[0] in (0, 1)
    out = conv_output_size(size, kernel, stride=stride, dilation=dilation, padding=pads)
    assert out == -(-size // stride)


@pytest.mark.parametrize("size", range(1, 9))
@pytest.mark.parametrize("kernel", [1, 2, 3])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_transpose_size_inverts_conv_size(size, kernel, stride):
    # Every input size a strided conv maps to `out` is reached by one output_padding.
    out = conv_output_size(size, kernel, stride=stride, dilation=1, padding=(1, 1))
    reached = {
        transpose_output_size(out, kernel, stride=stride, dilation=1, padding=(1, 1),
                              output_padding=extra)
        for extra in range(stride)
    }
    assert size in reached
