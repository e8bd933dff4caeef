"""The compiled direct algorithm against PyTorch, forward and transposed.

``algorithm="auto"`` charges compile time, so the small shapes of the main torch suite run
on NumPy; here ``direct`` is requested by name. Kernel shapes come from a fixed menu so the
number of compiled kernels (seconds each, cached on disk) stays bounded.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ndconv

KERNELS = [(3,), (5,), (3, 3), (1, 3), (2, 2), (3, 3, 3)]
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
TORCH_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
               "circular": "circular"}


def draw(seed):
    rng = np.random.default_rng(seed)
    kernel = KERNELS[seed % len(KERNELS)]
    ndim = len(kernel)
    groups = int(rng.choice([1, 2]))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    stride = tuple(int(v) for v in rng.integers(1, 3, ndim))
    dilation = tuple(int(v) for v in rng.integers(1, 3, ndim))
    padding = tuple(int(v) for v in rng.integers(0, 2, ndim))
    size = tuple(d * (k - 1) + 2 + int(rng.integers(0, 5)) for k, d in zip(kernel, dilation))
    dtype = np.float32 if seed % 2 else np.float64
    return rng, kernel, groups, cin, cout, stride, dilation, padding, size, dtype


def tolerances(dtype, reduction):
    if dtype == np.float32:
        return {"rtol": 1e-5, "atol": 1e-6 * reduction}
    return {"rtol": 1e-10, "atol": 1e-12 * reduction}


@pytest.mark.parametrize("seed", range(48))
def test_direct_forward_matches_torch(seed):
    rng, kernel, groups, cin, cout, stride, dilation, padding, size, dtype = draw(seed)
    mode = str(rng.choice(list(TORCH_MODES)))
    x = rng.standard_normal((2, cin, *size)).astype(dtype)
    w = rng.standard_normal((cout, cin // groups, *kernel)).astype(dtype)
    got = ndconv.conv(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups,
                      padding_mode=mode, algorithm="direct")
    widths = tuple(v for p in reversed(padding) for v in (p, p))
    padded = F.pad(torch.tensor(x, dtype=torch.float64), widths, mode=TORCH_MODES[mode])
    expected = TORCH_CONV[len(kernel)](padded, torch.tensor(w, dtype=torch.float64),
                                       stride=stride, dilation=dilation, groups=groups)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected.numpy(),
                               **tolerances(dtype, cin // groups * int(np.prod(kernel))))


@pytest.mark.parametrize("seed", range(24))
def test_direct_transpose_matches_torch(seed):
    rng, kernel, groups, cin, cout, stride, dilation, padding, size, dtype = draw(seed)
    output_padding = tuple(int(rng.integers(0, s)) for s in stride)
    # Transposed padding crops the output; keep at least one element.
    padding = tuple(min(p, d * (k - 1)) for p, d, k in zip(padding, dilation, kernel))
    x = rng.standard_normal((2, cin, *size)).astype(dtype)
    w = rng.standard_normal((cin, cout // groups, *kernel)).astype(dtype)
    got = ndconv.conv_transpose(x, w, stride=stride, padding=padding,
                                output_padding=output_padding, dilation=dilation,
                                groups=groups, algorithm="direct")
    expected = TORCH_TRANSPOSE[len(kernel)](
        torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
        stride=stride, padding=padding, output_padding=output_padding, groups=groups,
        dilation=dilation)
    np.testing.assert_allclose(got, expected.numpy(),
                               **tolerances(dtype, cout // groups * int(np.prod(kernel))))
