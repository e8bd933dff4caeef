"""Every bad input is refused before any work, with a message that says what is wrong.

One table of error inputs across the entry points (conv, conv_transpose, conv_grad,
correlate, convolve, plan, output_shape and the nn layers). Each row pins the exception
type and, with ``match=``, the part of the message that names the argument, the value
received and the form expected, so a message cannot silently degrade. Dtypes: bool and
integer inputs are accepted and computed in float64 (counted, never OR-ed or wrapped);
object, str, bytes, void, datetime and timedelta arrays are a TypeError.

Shapes that would need more memory than the machine has, or more scratch memory than
:func:`ndconv.get_workspace_limit`, raise ``MemoryError`` naming the bytes; the tests use
huge shapes (broadcast views, huge padding or strides) that are never allocated.
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

import ndconv
from ndconv import nn
from ndconv._shapes import conv_spec
from ndconv.algorithms import ALGORITHMS

X = np.ones((1, 3, 6, 6))
W = np.ones((4, 3, 3, 3))
WT = np.ones((3, 2, 3, 3))  # conv_transpose weights for X: (C_in, C_out // groups, kH, kW)
DY = np.ones((1, 4, 4, 4))  # conv(X, W)'s shape
NAMES = re.escape(", ".join(repr(n) for n in ("auto", *sorted(ALGORITHMS))))


def _out_aliasing_bias():
    bias = np.zeros(16)
    return ndconv.conv(np.ones((1, 2, 4, 4)), np.ones((16, 2, 4, 4)), bias,
                       out=bias.reshape(1, 16, 1, 1))


def _read_only(shape):
    a = np.zeros(shape)
    a.setflags(write=False)
    return a


def _huge(shape):
    """A float32 array of any shape, without its memory: one element, broadcast."""
    return np.broadcast_to(np.float32(1), shape)


def _fresh_conv2d(**kwargs):
    return nn.Conv2d(3, 8, 3, rng=0, **kwargs)


# (id, call, exception, message pattern)
ERRORS = [
    # --- ranks and shapes --------------------------------------------------------------
    ("w rank too small", lambda: ndconv.conv(X, np.ones((4, 3))), ValueError,
     r"w must have at least 3 dims \(C_out, C_in // groups, \*kernel\); got w.ndim=2"),
    ("x rank too small", lambda: ndconv.conv(np.ones((6, 6)), W), ValueError,
     r"x must have 4 dims \(N, C, \*spatial\) or 3 dims \(C, \*spatial\) to match a 2-D kernel "
     r"\(w.ndim=4\); got x.ndim=2 with shape \(6, 6\)"),
    ("x 3-D spatial for a 2-D kernel", lambda: ndconv.conv(np.ones((1, 3, 6, 6, 6)), W),
     ValueError, r"to match a 2-D kernel \(w.ndim=4\); got x.ndim=5"),
    ("x 1-D spatial for a 2-D kernel, read as unbatched",
     lambda: ndconv.conv(np.ones((1, 3, 6)), W), ValueError,
     r"x has 1 channels but w expects w.shape\[1\] \* groups = 3 \* 1 = 3 .*"
     r"x.ndim=3 = w.ndim - 1, so x was read as unbatched \(C, \*spatial\)"),
    ("x scalar", lambda: ndconv.conv(5.0, W), ValueError, r"got x.ndim=0 with shape \(\)"),
    ("channel mismatch", lambda: ndconv.conv(X, np.ones((4, 2, 3, 3))), ValueError,
     r"x has 3 channels but w expects w.shape\[1\] \* groups = 2 \* 1 = 2"),
    ("groups mismatch", lambda: ndconv.conv(X, W, groups=3), ValueError,
     r"x has 3 channels but w expects w.shape\[1\] \* groups = 3 \* 3 = 9"),
    ("groups not dividing C_out",
     lambda: ndconv.conv(np.ones((1, 4, 6, 6)), np.ones((3, 2, 3, 3)), groups=2), ValueError,
     r"groups=2 must divide the number of output channels w.shape\[0\]=3"),
    ("groups zero", lambda: ndconv.conv(X, W, groups=0), ValueError,
     r"groups must be positive; got groups=0"),
    ("groups negative", lambda: ndconv.conv(X, W, groups=-3), ValueError,
     r"groups must be positive; got groups=-3"),
    ("groups bool", lambda: ndconv.conv(X, W, groups=True), TypeError,
     r"groups must be an int; got True \(bool\)"),
    ("groups float", lambda: ndconv.conv(X, W, groups=1.0), TypeError,
     r"groups must be an int; got 1.0 \(float\)"),
    ("kernel side zero", lambda: ndconv.conv(X, np.ones((4, 3, 0, 3))), ValueError,
     r"every kernel size must be at least 1; got w.shape=\(4, 3, 0, 3\)"),
    ("kernel larger than input", lambda: ndconv.conv(X, np.ones((4, 3, 7, 3))), ValueError,
     r"kernel is larger than the padded input along spatial dim 0: .* 7 > padded input size 6"),
    ("kernel larger than padded input", lambda: ndconv.conv(X, np.ones((4, 3, 3, 9)), padding=1),
     ValueError, r"along spatial dim 1: effective kernel size dilation\*\(k-1\)\+1 = 9 > "
     r"padded input size 8 \(input 6 \+ padding \(1, 1\)\)"),
    ("dilated kernel larger than input", lambda: ndconv.conv(X, W, dilation=3), ValueError,
     r"effective kernel size dilation\*\(k-1\)\+1 = 7 > padded input size 6"),
    ("zero-size spatial axis without padding", lambda: ndconv.conv(np.ones((1, 3, 0, 6)), W),
     ValueError, r"padded input size 0 \(input 0 \+ padding \(0, 0\)\)"),
    # --- stride, dilation, padding -------------------------------------------------------
    ("stride zero", lambda: ndconv.conv(X, W, stride=0), ValueError,
     r"stride must be positive; got stride=0"),
    ("stride negative in tuple", lambda: ndconv.conv(X, W, stride=(1, -2)), ValueError,
     r"stride\[1\] must be positive; got stride\[1\]=-2"),
    ("stride float", lambda: ndconv.conv(X, W, stride=1.5), TypeError,
     r"stride must be an int; got 1.5 \(float\)"),
    ("stride float in tuple", lambda: ndconv.conv(X, W, stride=(1, 2.0)), TypeError,
     r"stride\[1\] must be an int; got 2.0 \(float\)"),
    ("stride string", lambda: ndconv.conv(X, W, stride="2"), TypeError,
     r"stride must be an int; got '2' \(str\)"),
    ("stride bool", lambda: ndconv.conv(X, W, stride=True), TypeError,
     r"stride must be an int; got True \(bool\)"),
    ("stride wrong length", lambda: ndconv.conv(X, W, stride=(1, 2, 3)), ValueError,
     r"stride must be an int or a sequence of 2 ints \(one per spatial dim\); "
     r"got stride=\(1, 2, 3\) with 3 entries"),
    ("dilation zero", lambda: ndconv.conv(X, W, dilation=0), ValueError,
     r"dilation must be positive; got dilation=0"),
    ("dilation negative", lambda: ndconv.conv(X, W, dilation=(-1, 1)), ValueError,
     r"dilation\[0\] must be positive; got dilation\[0\]=-1"),
    ("negative padding", lambda: ndconv.conv(X, W, padding=-1), ValueError,
     r"padding must be >= 0; got padding=-1"),
    ("negative padding pair", lambda: ndconv.conv(X, W, padding=[(0, 1), (-1, 0)]), ValueError,
     r"padding\[1\]\[0\] must be >= 0; got padding\[1\]\[0\]=-1"),
    ("padding wrong length", lambda: ndconv.conv(X, W, padding=(1, 1, 1)), ValueError,
     r"padding must be an int, a string, 2 ints or 2 \(lo, hi\) pairs \(one per spatial dim\); "
     r"got padding=\(1, 1, 1\) with 3 entries"),
    ("1-D padding given as a bare pair",
     lambda: ndconv.conv(np.ones((1, 1, 5)), np.ones((1, 1, 3)), padding=(1, 2)), ValueError,
     r"padding must be an int, a string, 1 int or 1 \(lo, hi\) pair .* with 2 entries; "
     r"for one \(lo, hi\) pair on the one spatial dim write padding=\[\(1, 2\)\]"),
    ("padding triple", lambda: ndconv.conv(X, W, padding=[(1, 2, 3), 1]), ValueError,
     r"padding\[0\] must be an int or a \(lo, hi\) pair; got \(1, 2, 3\)"),
    ("padding NaN", lambda: ndconv.conv(X, W, padding=float("nan")), TypeError,
     r"padding must be an int; got nan \(float\)"),
    ("padding None", lambda: ndconv.conv(X, W, padding=None), TypeError,
     r"padding must be an int; got None \(NoneType\)"),
    ("unknown padding string", lambda: ndconv.conv(X, W, padding="sme"), ValueError,
     r"padding='sme' is not valid; expected one of 'valid', 'same', 'full' "
     r"\(did you mean 'same'\?\)"),
    ("padding string in capitals", lambda: ndconv.conv(X, W, padding="SAME"), ValueError,
     r"padding='SAME' is not valid; .* \(did you mean 'same'\?\)"),
    ("unknown padding_mode", lambda: ndconv.conv(X, W, padding_mode="mirror"), ValueError,
     r"padding_mode='mirror' is not valid; expected one of 'zeros', 'reflect', 'replicate', "
     r"'circular'$"),
    ("padding_mode typo", lambda: ndconv.conv(X, W, padding_mode="reflct"), ValueError,
     r"padding_mode='reflct' is not valid; .* \(did you mean 'reflect'\?\)"),
    ("padding_mode None", lambda: ndconv.conv(X, W, padding_mode=None), ValueError,
     r"padding_mode=None is not valid; expected one of 'zeros'"),
    ("reflect pad too large", lambda: ndconv.conv(X, W, padding=6, padding_mode="reflect"),
     ValueError, r"padding_mode='reflect' needs padding smaller than the input size; "
     r"got padding \(6, 6\) on spatial dim 0 of size 6"),
    ("circular pad too large", lambda: ndconv.conv(X, W, padding=7, padding_mode="circular"),
     ValueError, r"padding_mode='circular' needs padding no larger than the input size; "
     r"got padding \(7, 7\) on spatial dim 0 of size 6"),
    ("replicate of empty input",
     lambda: ndconv.conv(np.ones((1, 3, 0, 6)), W, padding=2, padding_mode="replicate"),
     ValueError, r"padding_mode='replicate' needs a non-empty input to replicate; "
     r"spatial dim 0 has size 0"),
    # --- bias and dtypes -----------------------------------------------------------------
    ("bias shape", lambda: ndconv.conv(X, W, np.ones(3)), ValueError,
     r"bias must have shape \(4,\) \(one value per output channel\); got bias.shape=\(3,\)"),
    ("bias scalar", lambda: ndconv.conv(X, W, 1.0), ValueError,
     r"bias must have shape \(4,\) .* got bias.shape=\(\)"),
    ("str dtype", lambda: ndconv.conv(np.full((1, 3, 6, 6), "a"), W), TypeError,
     r"x has dtype <U1; expected a numeric array \(bool, integer, floating or complex\)"),
    ("bytes dtype", lambda: ndconv.conv(np.zeros((1, 3, 6, 6), "S2"), W), TypeError,
     r"x has dtype \|S2; expected a numeric array"),
    ("object dtype", lambda: ndconv.conv(X, W.astype(object)), TypeError,
     r"w has dtype object; expected a numeric array"),
    ("void dtype", lambda: ndconv.conv(np.zeros((1, 3, 6, 6), "V8"), W), TypeError,
     r"x has dtype \|V8; expected a numeric array"),
    ("datetime dtype", lambda: ndconv.conv(X, W, np.zeros(4, dtype="datetime64[s]")), TypeError,
     r"bias has dtype datetime64\[s\]; expected a numeric array"),
    ("timedelta dtype", lambda: ndconv.conv(np.zeros((1, 3, 6, 6), "m8[s]"), W), TypeError,
     r"x has dtype timedelta64\[s\]; expected a numeric array"),
    ("ragged input", lambda: ndconv.conv([[[1, 2], [3]]], W), ValueError,
     r"x must be a rectangular numeric array; got a ragged nested sequence"),
    # --- algorithm -----------------------------------------------------------------------
    ("unknown algorithm", lambda: ndconv.conv(X, W, algorithm="refernce"), ValueError,
     rf"algorithm='refernce' is not valid; expected one of {NAMES} \(did you mean 'reference'\?\)"),
    ("algorithm in capitals", lambda: ndconv.conv(X, W, algorithm="FFT"), ValueError,
     r"algorithm='FFT' is not valid; .* \(did you mean 'fft'\?\)"),
    ("algorithm None", lambda: ndconv.conv(X, W, algorithm=None), ValueError,
     rf"algorithm=None is not valid; expected one of {NAMES}$"),
    ("algorithm not supporting the dtype",
     lambda: ndconv.conv(X.astype(np.longdouble), W, algorithm="direct"), ValueError,
     r"algorithm='direct' does not support this convolution \(dtype float128\); "
     r"use algorithm='auto'"),
    # --- out= ----------------------------------------------------------------------------
    ("out wrong shape", lambda: ndconv.conv(X, W, out=np.empty((1, 4, 4, 5))), ValueError,
     r"out must have shape \(1, 4, 4, 4\) \(the result's\); got out.shape=\(1, 4, 4, 5\)"),
    ("out wrong dtype", lambda: ndconv.conv(X, W, out=np.empty((1, 4, 4, 4), np.float32)),
     ValueError, r"out must have dtype float64 \(the result's for these inputs\); "
     r"got out.dtype=float32"),
    ("out a list", lambda: ndconv.conv(X, W, out=[0.0] * 64), TypeError,
     r"out must be a numpy.ndarray or None; got list"),
    ("out read-only", lambda: ndconv.conv(X, W, out=_read_only((1, 4, 4, 4))), ValueError,
     r"out is read-only; pass a writable array"),
    ("out aliasing x",
     lambda: (lambda x: ndconv.conv(x, np.ones((3, 3, 3, 3)), out=x[:, :, 1:5, 1:5]))(X.copy()),
     ValueError, r"out must not share memory with x; the inputs are read while the result is "
     r"written"),
    ("out aliasing w",
     lambda: (lambda w: ndconv.conv(np.ones((1, 1, 5, 5)), w, out=w))(np.ones((1, 1, 3, 3))),
     ValueError, r"out must not share memory with w"),
    ("out aliasing bias", _out_aliasing_bias, ValueError, r"out must not share memory with bias"),
    # --- conv_transpose ------------------------------------------------------------------
    ("transpose output_padding >= stride and dilation",
     lambda: ndconv.conv_transpose(X, WT, stride=2, output_padding=2),
     ValueError, r"output_padding must be smaller than stride or dilation; "
     r"got output_padding\[0\]=2 with stride\[0\]=2, dilation\[0\]=1"),
    ("transpose output_padding >= dilation and stride",
     lambda: ndconv.conv_transpose(X, WT, dilation=(1, 2), output_padding=(0, 2)),
     ValueError, r"got output_padding\[1\]=2 with stride\[1\]=1, dilation\[1\]=2"),
    ("transpose output_padding negative",
     lambda: ndconv.conv_transpose(X, WT, output_padding=-1), ValueError,
     r"output_padding must be >= 0; got output_padding=-1"),
    ("transpose channel mismatch", lambda: ndconv.conv_transpose(X, np.ones((2, 2, 3, 3))),
     ValueError, r"x has 3 channels but conv_transpose expects w.shape\[0\]=2 "
     r"\(w is \(C_in, C_out // groups, \*kernel\); w.shape=\(2, 2, 3, 3\)\)"),
    ("transpose string padding", lambda: ndconv.conv_transpose(X, WT, padding="same"),
     TypeError, r"conv_transpose takes integer padding \(an int, one per dim or \(lo, hi\) "
     r"pairs\); got padding='same'"),
    ("transpose padding eats output",
     lambda: ndconv.conv_transpose(np.ones((1, 3, 1, 1)), np.ones((3, 2, 1, 1)), padding=1),
     ValueError, r"padding=1 is too large: the transposed output would have size -1 along "
     r"spatial dim 0"),
    ("transpose groups", lambda: ndconv.conv_transpose(X, WT, groups=2),
     ValueError, r"groups=2 must divide the number of input channels w.shape\[0\]=3"),
    ("transpose empty spatial input",
     lambda: ndconv.conv_transpose(np.ones((1, 3, 0, 4)), WT), ValueError,
     r"conv_transpose needs a non-empty spatial input; got x.shape=\(1, 3, 0, 4\)"),
    ("transpose w rank", lambda: ndconv.conv_transpose(X, np.ones(3)), ValueError,
     r"w must have at least 3 dims"),
    ("transpose out wrong shape",
     lambda: ndconv.conv_transpose(X, WT, out=np.empty((1, 2, 8, 9))), ValueError,
     r"out must have shape \(1, 2, 8, 8\) \(the result's\); got out.shape=\(1, 2, 8, 9\)"),
    # --- conv_grad -----------------------------------------------------------------------
    ("grad dy shape", lambda: ndconv.conv_grad(np.ones((1, 4, 3, 3)), X, W), ValueError,
     r"dy must have the shape conv\(x, w\) returns for these arguments, \(1, 4, 4, 4\); "
     r"got dy.shape=\(1, 4, 3, 3\)"),
    ("grad complex", lambda: ndconv.conv_grad(DY, X, W.astype(complex)), TypeError,
     r"w has complex dtype complex128; this function is defined for real dtypes only"),
    ("grad str dy", lambda: ndconv.conv_grad(DY.astype(str), X, W), TypeError,
     r"dy has dtype <U32; expected a numeric array"),
    ("grad out not a tuple", lambda: ndconv.conv_grad(DY, X, W, out=[None, None, None]),
     TypeError, r"out must be a tuple \(dx, dw, dbias\) of arrays or None; got \[None, None, "
     r"None\]"),
    ("grad out[1] wrong shape",
     lambda: ndconv.conv_grad(DY, X, W, out=(None, np.empty((4, 3, 3, 2)), None)), ValueError,
     r"out\[1\] must have shape \(4, 3, 3, 3\) \(the result's\); got out\[1\].shape="),
    ("grad out[0] aliasing dy",
     lambda: (lambda dy: ndconv.conv_grad(dy, np.ones((1, 3, 4, 4)), np.ones((3, 3, 1, 1)),
                                          out=(dy, None, None)))(np.ones((1, 3, 4, 4))),
     ValueError, r"out\[0\] must not share memory with dy"),
    ("grad kernel larger", lambda: ndconv.conv_grad(DY, X, np.ones((4, 3, 7, 7))), ValueError,
     r"kernel is larger than the padded input"),
    ("grad unknown padding_mode",
     lambda: ndconv.conv_grad(DY, X, W, padding_mode="circ"), ValueError,
     r"padding_mode='circ' is not valid; .* \(did you mean 'circular'\?\)"),
    # --- correlate and convolve ----------------------------------------------------------
    ("correlate rank mismatch", lambda: ndconv.correlate(np.ones((4, 4)), np.ones(3)),
     ValueError, r"a and k must have the same number of dims; got a.ndim=2 \(shape \(4, 4\)\) "
     r"and k.ndim=1 \(shape \(3,\)\)"),
    ("correlate 0-d against 1-d", lambda: ndconv.correlate(5.0, np.ones(2)), ValueError,
     r"got a.ndim=0 \(shape \(\)\) and k.ndim=1"),
    ("correlate unknown mode", lambda: ndconv.correlate(np.ones(4), np.ones(3), mode="vald"),
     ValueError, r"mode='vald' is not valid; expected one of 'valid', 'same', 'full' "
     r"\(did you mean 'valid'\?\)"),
    ("correlate mode int", lambda: ndconv.correlate(np.ones(4), np.ones(2), mode=1), ValueError,
     r"mode=1 is not valid; expected one of 'valid', 'same', 'full'"),
    ("correlate valid with larger kernel",
     lambda: ndconv.correlate(np.ones((4, 4)), np.ones((5, 3))), ValueError,
     r"mode='valid' needs k no larger than a along every axis; got a.shape=\(4, 4\) and "
     r"k.shape=\(5, 3\) \(use mode='same' or 'full'\)"),
    ("convolve empty kernel", lambda: ndconv.convolve(np.ones(4), np.ones(0), mode="full"),
     ValueError, r"k must not be empty; got k.shape=\(0,\)"),
    ("correlate empty input", lambda: ndconv.correlate(np.ones(0), np.ones(2), mode="full"),
     ValueError, r"a must not be empty; got a.shape=\(0,\)"),
    ("correlate zero-size axis", lambda: ndconv.correlate(np.ones((3, 0)), np.ones((2, 2))),
     ValueError, r"a must not be empty; got a.shape=\(3, 0\)"),
    ("convolve unknown algorithm",
     lambda: ndconv.convolve(np.ones(4), np.ones(2), algorithm="gem"), ValueError,
     r"algorithm='gem' is not valid; .* \(did you mean 'gemm'\?\)"),
    ("correlate object dtype",
     lambda: ndconv.correlate(np.ones(4, object), np.ones(2)), TypeError,
     r"a has dtype object; expected a numeric array"),
    ("correlate out aliasing a",
     lambda: (lambda a: ndconv.correlate(a, np.ones(2), "same", out=a))(np.ones(4)), ValueError,
     r"out must not share memory with a"),
    # --- plan ----------------------------------------------------------------------------
    ("plan shape not a sequence", lambda: ndconv.plan(5, (4, 3, 3, 3)), TypeError,
     r"x_shape must be a sequence of ints; got 5"),
    ("plan negative shape", lambda: ndconv.plan((1, 3, 6, 6), (4, 3, -3, 3)), ValueError,
     r"w_shape\[2\] must be >= 0; got w_shape\[2\]=-3"),
    ("plan str dtype", lambda: ndconv.plan((1, 3, 6, 6), (4, 3, 3, 3), "U1"), TypeError,
     r"dtype has dtype <U1; expected a numeric array"),
    ("plan unknown algorithm", lambda: ndconv.plan((1, 3, 6, 6), (4, 3, 3, 3), algorithm="fftt"),
     ValueError, r"algorithm='fftt' is not valid; .* \(did you mean 'fft'\?\)"),
    ("plan bad stride", lambda: ndconv.plan((1, 3, 6, 6), (4, 3, 3, 3), stride=-1), ValueError,
     r"stride must be positive; got stride=-1"),
    # --- output_shape --------------------------------------------------------------------
    ("output_shape NaN shape", lambda: ndconv.output_shape((1, 3, float("nan")), (4, 3, 3)),
     TypeError, r"x_shape\[2\] must be an int; got nan \(float\)"),
    ("output_shape negative shape", lambda: ndconv.output_shape((1, 3, -5), (4, 3, 3)),
     ValueError, r"x_shape\[2\] must be >= 0; got x_shape\[2\]=-5"),
    ("output_shape not a sequence", lambda: ndconv.output_shape(5, (4, 3, 3)), TypeError,
     r"x_shape must be a sequence of ints; got 5"),
    ("output_padding without transposed",
     lambda: ndconv.output_shape((1, 3, 8), (4, 3, 3), output_padding=1), ValueError,
     r"output_padding only applies with transposed=True; got output_padding=1"),
    ("output_shape transposed output_padding",
     lambda: ndconv.output_shape((1, 3, 8), (3, 4, 3), transposed=True, output_padding=1),
     ValueError, r"output_padding must be smaller than stride or dilation"),
    # --- nn layers -----------------------------------------------------------------------
    ("Conv2d kernel_size 0", lambda: nn.Conv2d(3, 8, 0), ValueError,
     r"kernel_size must be positive; got kernel_size=0"),
    ("Conv2d in_channels 0", lambda: nn.Conv2d(0, 8, 3), ValueError,
     r"in_channels must be positive; got in_channels=0"),
    ("Conv2d groups not dividing", lambda: nn.Conv2d(3, 8, 3, groups=2), ValueError,
     r"groups=2 must divide in_channels=3"),
    ("Conv2d kernel_size rank", lambda: nn.Conv2d(3, 8, (3, 3, 3)), ValueError,
     r"kernel_size must be an int or a sequence of 2 ints \(one per spatial dim\); "
     r"got kernel_size=\(3, 3, 3\) with 3 entries"),
    ("Conv with an int kernel_size", lambda: nn.Conv(3, 8, 3), TypeError,
     r"Conv takes kernel_size as one int per spatial dim, e.g. \(3, 3\), .* got kernel_size=3 "
     r"\(use Conv1d, Conv2d or Conv3d for a single int\)"),
    ("Conv2d integer dtype", lambda: nn.Conv2d(3, 8, 3, dtype=np.int32), TypeError,
     r"dtype must be a floating dtype such as float32; got dtype=int32"),
    ("Conv2d padding typo", lambda: nn.Conv2d(3, 8, 3, padding="sme"), ValueError,
     r"padding='sme' is not valid; .* \(did you mean 'same'\?\)"),
    ("Conv2d algorithm typo", lambda: nn.Conv2d(3, 8, 3, algorithm="dirct"), ValueError,
     rf"algorithm='dirct' is not valid; expected one of {NAMES} \(did you mean 'direct'\?\)"),
    ("Conv2d padding_mode typo", lambda: nn.Conv2d(3, 8, 3, padding_mode="zero"), ValueError,
     r"padding_mode='zero' is not valid; .* \(did you mean 'zeros'\?\)"),
    ("Conv2d stride 0", lambda: nn.Conv2d(3, 8, 3, stride=0), ValueError,
     r"stride must be positive; got stride=0"),
    ("Conv2d forward without batch axis", lambda: _fresh_conv2d()(np.ones((3, 8, 8))),
     ValueError, r"Conv2d takes a batch shaped \(N, C, \*spatial\) with 2 spatial dims; "
     r"got x.shape=\(3, 8, 8\)"),
    ("Conv2d forward channels", lambda: _fresh_conv2d()(np.ones((1, 2, 8, 8))), ValueError,
     r"x has 2 channels but w expects w.shape\[1\] \* groups = 3 \* 1 = 3"),
    ("Conv2d forward input smaller than kernel", lambda: _fresh_conv2d()(np.ones((1, 3, 2, 8))),
     ValueError, r"effective kernel size dilation\*\(k-1\)\+1 = 3 > padded input size 2"),
    ("Conv2d backward before forward", lambda: _fresh_conv2d().backward(np.ones((1, 8, 6, 6))),
     RuntimeError, r"Conv2d.backward called before forward"),
    ("ConvTranspose2d output_padding",
     lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=2), ValueError,
     r"output_padding must be smaller than stride or dilation; got output_padding\[0\]=2"),
    ("ConvTranspose2d forward channels",
     lambda: nn.ConvTranspose2d(4, 2, 3, rng=0)(np.ones((1, 3, 5, 5))), ValueError,
     r"x has 3 channels but conv_transpose expects w.shape\[0\]=4"),
    # --- memory: huge shapes, refused before anything is allocated -----------------------
    ("result larger than memory (padding)",
     lambda: ndconv.conv(np.ones((1, 1, 4)), np.ones((1, 1, 3)), padding=2**50), MemoryError,
     r"the result would have shape \(1, 1, 2251799813685250\) and dtype float64: "
     r"18014398509482000 bytes \(16.0 PiB\), more than this machine's physical memory"),
    ("result larger than memory (broadcast input)",
     lambda: ndconv.correlate(_huge((2**20, 2**20)), np.ones((3, 3), np.float32), "same"),
     MemoryError, r"the result would have shape \(1048576, 1048576\) and dtype float32: "
     r"4398046511104 bytes \(4.0 TiB\)"),
    ("transposed result larger than memory",
     lambda: ndconv.conv_transpose(np.ones((1, 1, 3)), np.ones((1, 1, 3)), stride=2**50),
     MemoryError, r"the result would have shape \(1, 1, 2251799813685251\)"),
]


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [pytest.param(call, error, pattern, id=name) for name, call, error, pattern in ERRORS],
)
def test_bad_input_raises_a_named_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_the_table_is_broad_and_covers_every_entry_point():
    assert len(ERRORS) >= 40
    assert len({name for name, *_ in ERRORS}) == len(ERRORS)


# ---------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------


@pytest.fixture
def one_mebibyte():
    previous = ndconv.get_workspace_limit()
    ndconv.set_workspace_limit(2**20)
    yield 2**20
    ndconv.set_workspace_limit(previous)


def _peak_bytes(call):
    """The exception ``call`` raises and the peak memory traced while it ran."""
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError) as raised:
            call()
        return raised.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_requested_algorithm_needing_more_workspace_fails_before_allocating(one_mebibyte):
    # 2**26 elements (256 MiB of float32) that are never stored: FFT needs their spectra.
    x, w = _huge((1, 1, 2**13, 2**13)), np.ones((1, 1, 9, 9), np.float32)
    spec = conv_spec(x.shape, w.shape, stride=64, dtype=np.dtype(np.float32))
    needed = ALGORITHMS["fft"].workspace(spec)
    error, peak = _peak_bytes(lambda: ndconv.conv(x, w, stride=64, algorithm="fft"))
    assert re.fullmatch(
        rf"algorithm='fft' needs {needed} bytes \(.*\) of workspace for this convolution, more "
        rf"than the workspace limit of 1048576 bytes \(1.0 MiB\); raise the limit with "
        rf"ndconv.set_workspace_limit\({needed}\) or more, or use algorithm='auto' to pick an "
        rf"algorithm that fits", str(error))
    assert peak < 2**20


def test_auto_leaves_out_algorithms_that_do_not_fit(one_mebibyte):
    plan = ndconv.plan((1, 1, 2**13, 2**13), (1, 1, 9, 9), "float32", stride=64)
    assert "fft" not in plan.estimates
    assert plan.workspace_bytes <= one_mebibyte
    spec = conv_spec((1, 1, 2**13, 2**13), (1, 1, 9, 9), stride=64, dtype=np.dtype(np.float32))
    for name in plan.estimates:
        assert ALGORITHMS[name].workspace(spec) <= one_mebibyte


def test_when_nothing_fits_auto_names_the_least_it_needs(one_mebibyte):
    # Reflect padding needs a padded copy of the input (32 MiB here) in every algorithm.
    x, w = _huge((1, 1, 2**12, 2**11)), np.ones((1, 1, 3, 3), np.float32)
    error, peak = _peak_bytes(lambda: ndconv.conv(x, w, padding=1, padding_mode="reflect"))
    assert re.match(r"no algorithm fits this convolution in the workspace limit of 1048576 bytes "
                    r"\(1.0 MiB\): the least any needs is \d+ bytes \(\d+.\d MiB, algorithm='\w+'\)"
                    r"; raise the limit with ndconv.set_workspace_limit\(\d+\) or more", str(error))
    assert peak < 2**20


def test_raising_the_limit_lets_the_same_call_run(one_mebibyte):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 1, 300, 300)), rng.standard_normal((1, 1, 31, 31))
    with pytest.raises(MemoryError, match=r"ndconv\.set_workspace_limit"):
        ndconv.conv(x, w, algorithm="fft")
    ndconv.set_workspace_limit(2**30)
    np.testing.assert_allclose(ndconv.conv(x, w, algorithm="fft"),
                               ndconv.conv(x, w, algorithm="numpy"), atol=1e-10)


def test_a_result_larger_than_memory_fails_before_any_work():
    x = _huge((1, 1, 2**25, 2**25))  # 2**50 elements, one stored
    error, peak = _peak_bytes(lambda: ndconv.conv(x, np.ones((2, 1, 1, 1), np.float32)))
    assert "the result would have shape (1, 2, 33554432, 33554432) and dtype float32" in str(error)
    assert peak < 2**20


# ---------------------------------------------------------------------------------------
# Layouts that must work, and inputs that must stay as they were
# ---------------------------------------------------------------------------------------


def _awkward(a):
    """``a``'s values, read-only and in a non-contiguous, negatively strided layout."""
    holder = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
    view = holder[..., ::-2]
    view[...] = a[..., ::-1]
    view = view[..., ::-1]
    view.setflags(write=False)
    assert not view.flags.c_contiguous and not view.flags.writeable
    return view


CALLS = {
    "conv": lambda x, w, dy, algorithm: ndconv.conv(x, w, padding=1, algorithm=algorithm),
    "conv reflect": lambda x, w, dy, algorithm: ndconv.conv(
        x, w, padding=(1, 2), stride=2, padding_mode="reflect", algorithm=algorithm),
    "conv_transpose": lambda x, w, dy, algorithm: ndconv.conv_transpose(
        dy, w, padding=1, algorithm=algorithm),
    "conv_grad": lambda x, w, dy, algorithm: ndconv.conv_grad(
        dy, x, w, padding=1, algorithm=algorithm),
    "correlate": lambda x, w, dy, algorithm: ndconv.correlate(
        x[0, 0], w[0, 0], "same", algorithm=algorithm),
    "convolve": lambda x, w, dy, algorithm: ndconv.convolve(
        x[0, 0], w[0, 0], "full", algorithm=algorithm),
}


@pytest.mark.parametrize("algorithm", ["auto", "reference", "numpy", "fft"])
@pytest.mark.parametrize("entry", sorted(CALLS))
def test_read_only_non_contiguous_inputs_work_and_are_never_modified(entry, algorithm):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    dy = rng.standard_normal((2, 4, 7, 7))
    call = CALLS[entry]
    expected = call(x, w, dy, algorithm)
    arrays = [_awkward(a) for a in (x, w, dy)]
    before = [a.copy() for a in arrays]
    got = call(*arrays, algorithm)
    for g, e in zip(got if isinstance(got, tuple) else (got,),
                    expected if isinstance(expected, tuple) else (expected,)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    for array, copy in zip(arrays, before):
        np.testing.assert_array_equal(array, copy)


def test_nn_layers_leave_their_inputs_unchanged():
    rng = np.random.default_rng(2)
    x = _awkward(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    before = x.copy()
    for layer in (nn.Conv2d(3, 4, 3, padding=1, rng=0), nn.ConvTranspose2d(3, 4, 3, rng=0)):
        y = layer(x)
        layer.backward(_awkward(np.ones_like(y)))
        np.testing.assert_array_equal(x, before)


def test_failed_calls_leave_inputs_and_out_unchanged():
    x, w = np.arange(36.0).reshape(1, 1, 6, 6), np.ones((1, 1, 3, 3))
    out = np.full((1, 1, 4, 4), 7.0)
    for bad in ({"padding": "sme"}, {"stride": 0}, {"algorithm": "nope"}, {"groups": 2}):
        with pytest.raises((TypeError, ValueError)):
            ndconv.conv(x, w, out=out, **bad)
    np.testing.assert_array_equal(x, np.arange(36.0).reshape(1, 1, 6, 6))
    np.testing.assert_array_equal(out, 7.0)
