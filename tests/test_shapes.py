"""Shape arithmetic (ndconv._shapes), through the public API.

The table of bad arguments and the messages they raise is in tests/test_errors.py.
"""

import numpy as np
import pytest

import ndconv
from ndconv._shapes import conv_output_size, same_padding, transpose_output_size


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
