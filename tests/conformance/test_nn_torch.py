"""ndconv.nn layers, loss and optimisers against their PyTorch 2.13 (CPU) counterparts.

Each layer is built in ndconv, its parameters are copied into the matching ``torch.nn``
module, and both run forward on the same input and backward from the same random ``dy``
(torch autograd gives ``x.grad`` and each parameter's ``.grad``). Float64 cases compare at
rtol 1e-10; one float32 case per layer family checks the default dtype at rtol 1e-5.
Optimisers are stepped side by side with ``torch.optim`` on the same gradient sequence.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ndconv import nn

TORCH_CONV = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
TORCH_TRANSPOSE = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d,
                   3: torch.nn.ConvTranspose3d}
TORCH_MAX = {1: torch.nn.MaxPool1d, 2: torch.nn.MaxPool2d, 3: torch.nn.MaxPool3d}
TORCH_AVG = {1: torch.nn.AvgPool1d, 2: torch.nn.AvgPool2d, 3: torch.nn.AvgPool3d}
TOLERANCE = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 1e-5, "atol": 1e-5}}


def torch_dtype(dtype) -> torch.dtype:
    return torch.float64 if dtype == np.float64 else torch.float32


def compare_with_torch(layer: nn.Layer, module: torch.nn.Module, x: np.ndarray,
                       names: dict[str, str], dtype) -> None:
    """Copy ``layer.params`` into ``module``, run both ways, compare outputs and gradients.

    ``names`` maps ndconv parameter names to torch parameter names.
    """
    module = module.to(torch_dtype(dtype))
    with torch.no_grad():
        for ours, theirs in names.items():
            getattr(module, theirs).copy_(torch.from_numpy(layer.params[ours]))
    tolerance = TOLERANCE[dtype]
    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    expected = module(x_torch)
    y = layer.forward(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, expected.detach().numpy(), **tolerance)

    dy = np.random.default_rng(99).standard_normal(y.shape).astype(dtype)
    expected.backward(torch.from_numpy(dy))
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, x_torch.grad.numpy(), **tolerance)
    for ours, theirs in names.items():
        np.testing.assert_allclose(
            layer.grads[ours], getattr(module, theirs).grad.numpy(), **tolerance, err_msg=ours
        )


def random(shape, dtype, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


CONV_CONFIGS = [
    # (in, out, kernel, options, input shape, dtype)
    (2, 4, (3,), {"stride": 2, "padding": 1}, (3, 2, 11), np.float64),
    (3, 6, (5,), {"dilation": 2, "groups": 3, "padding": "same"}, (2, 3, 12), np.float64),
    (2, 3, (3, 3), {"padding": 1, "padding_mode": "reflect"}, (2, 2, 7, 6), np.float64),
    (4, 4, (3, 2), {"stride": (2, 1), "groups": 2, "padding_mode": "circular",
                    "padding": (1, 1)}, (1, 4, 6, 5), np.float64),
    (1, 2, (2, 2), {"padding": (1, 0), "padding_mode": "replicate", "bias": False},
     (2, 1, 5, 5), np.float64),
    (2, 2, (2, 3, 2), {"stride": (1, 2, 1), "padding": 1, "dilation": (2, 1, 1)},
     (1, 2, 5, 6, 4), np.float64),
    (1, 8, (3, 3), {"padding": 1}, (4, 1, 8, 8), np.float32),
    (3, 4, (3, 3, 3), {"stride": 2, "padding": 1}, (2, 3, 6, 6, 6), np.float32),
]


@pytest.mark.parametrize(("in_c", "out_c", "kernel", "options", "shape", "dtype"),
                         CONV_CONFIGS)
def test_conv_matches_torch_conv_nd(in_c, out_c, kernel, options, shape, dtype):
    layer = nn.Conv(in_c, out_c, kernel, dtype=dtype, rng=0, **options)
    module = TORCH_CONV[len(kernel)](in_c, out_c, kernel, **options)
    names = {"weight": "weight"} | ({"bias": "bias"} if options.get("bias", True) else {})
    compare_with_torch(layer, module, random(shape, dtype), names, dtype)


@pytest.mark.parametrize("alias", [nn.Conv1d, nn.Conv2d, nn.Conv3d])
def test_conv_aliases_match_torch_with_an_int_kernel_size(alias):
    rank = alias.spatial_dims
    layer = alias(2, 3, 3, stride=2, padding=1, dtype=np.float64, rng=0)
    module = TORCH_CONV[rank](2, 3, 3, stride=2, padding=1)
    compare_with_torch(layer, module, random((2, 2, *(7,) * rank), np.float64),
                       {"weight": "weight", "bias": "bias"}, np.float64)


TRANSPOSE_CONFIGS = [
    (2, 3, (3,), {"stride": 2, "padding": 1, "output_padding": 1}, (2, 2, 5), np.float64),
    (4, 2, (4, 4), {"stride": 2, "padding": 1, "groups": 2}, (1, 4, 3, 4), np.float64),
    (2, 2, (2, 3), {"stride": (1, 2), "dilation": (3, 1), "output_padding": (2, 1)},
     (2, 2, 3, 3), np.float64),
    (2, 1, (2, 2, 2), {"stride": 2, "bias": False}, (1, 2, 2, 3, 2), np.float64),
    (8, 4, (2, 2), {"stride": 2}, (3, 8, 4, 4), np.float32),
]


@pytest.mark.parametrize(("in_c", "out_c", "kernel", "options", "shape", "dtype"),
                         TRANSPOSE_CONFIGS)
def test_conv_transpose_matches_torch(in_c, out_c, kernel, options, shape, dtype):
    layer = nn.ConvTranspose(in_c, out_c, kernel, dtype=dtype, rng=0, **options)
    module = TORCH_TRANSPOSE[len(kernel)](in_c, out_c, kernel, **options)
    names = {"weight": "weight"} | ({"bias": "bias"} if options.get("bias", True) else {})
    compare_with_torch(layer, module, random(shape, dtype), names, dtype)


POOL_CONFIGS = [
    # (kernel, stride, padding, input shape)
    (2, None, 0, (2, 3, 8)),
    (3, 2, 1, (1, 2, 9)),
    (2, None, 0, (2, 2, 6, 6)),
    ((3, 2), (1, 2), (1, 1), (1, 2, 5, 7)),
    (3, 1, 1, (1, 1, 4, 5)),
    (2, (2, 1, 2), 1, (1, 2, 4, 3, 5)),
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "shape"), POOL_CONFIGS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(kind, kernel, stride, padding, shape):
    rank = len(shape) - 2
    ours = nn.MaxPool if kind == "max" else nn.AvgPool
    theirs = (TORCH_MAX if kind == "max" else TORCH_AVG)[rank]
    compare_with_torch(ours(kernel, stride, padding), theirs(kernel, stride, padding),
                       random(shape, np.float64), {}, np.float64)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_max_pool_ties_follow_torch(rank):
    # Integer values in a narrow range make many windows hold several equal maxima.
    x = np.random.default_rng(rank).integers(0, 3, (2, 2, *(5,) * rank)).astype(np.float64)
    compare_with_torch(nn.MaxPool(3, 2, 1), TORCH_MAX[rank](3, 2, 1), x, {}, np.float64)


def test_pooling_float32_matches_torch():
    x = random((4, 8, 8, 8), np.float32)
    compare_with_torch(nn.MaxPool(2), torch.nn.MaxPool2d(2), x, {}, np.float32)
    compare_with_torch(nn.AvgPool(2), torch.nn.AvgPool2d(2), x, {}, np.float32)


@pytest.mark.parametrize(
    ("shape", "bias", "dtype"),
    [((4, 6), True, np.float64), ((2, 3, 6), True, np.float64), ((4, 6), False, np.float64),
     ((16, 6), True, np.float32)],
)
def test_linear_matches_torch(shape, bias, dtype):
    layer = nn.Linear(6, 5, bias=bias, dtype=dtype, rng=0)
    names = {"weight": "weight"} | ({"bias": "bias"} if bias else {})
    compare_with_torch(layer, torch.nn.Linear(6, 5, bias=bias), random(shape, dtype), names,
                       dtype)


def test_relu_and_flatten_match_torch():
    x = random((3, 2, 4, 4), np.float64)
    x[0, 0, 0, :2] = 0.0  # the gradient at exactly 0 is 0 in both
    compare_with_torch(nn.ReLU(), torch.nn.ReLU(), x, {}, np.float64)
    compare_with_torch(nn.Flatten(), torch.nn.Flatten(), x, {}, np.float64)


def test_softmax_cross_entropy_matches_torch():
    logits = random((6, 4), np.float64) * 5
    labels = np.array([0, 3, 1, 1, 2, 0])
    logits_torch = torch.from_numpy(logits.copy()).requires_grad_(True)
    expected = F.cross_entropy(logits_torch, torch.from_numpy(labels))
    expected.backward()
    loss, dlogits = nn.softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(dlogits, logits_torch.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda pairs: nn.SGD(pairs, lr=0.1),
         lambda params: torch.optim.SGD(params, lr=0.1)),
        (lambda pairs: nn.SGD(pairs, lr=0.05, momentum=0.9),
         lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9)),
        (lambda pairs: nn.Adam(pairs),
         lambda params: torch.optim.Adam(params)),
        (lambda pairs: nn.Adam(pairs, lr=0.02, betas=(0.8, 0.95), eps=1e-6),
         lambda params: torch.optim.Adam(params, lr=0.02, betas=(0.8, 0.95), eps=1e-6)),
    ],
    ids=["sgd", "sgd momentum", "adam", "adam options"],
)
def test_optimisers_match_torch_optim(ours, theirs):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [np.zeros(s) for s in shapes]
    torch_params = [torch.from_numpy(p.copy()).requires_grad_(True) for p in params]
    optimiser, torch_optimiser = ours(list(zip(params, grads))), theirs(torch_params)
    for _ in range(5):
        for grad, torch_param in zip(grads, torch_params):
            grad[...] = rng.standard_normal(grad.shape)
            torch_param.grad = torch.from_numpy(grad.copy())
        optimiser.step()
        torch_optimiser.step()
    for param, torch_param in zip(params, torch_params):
        np.testing.assert_allclose(param, torch_param.detach().numpy(), rtol=1e-12, atol=1e-14)
