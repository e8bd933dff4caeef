"""Padding in PyTorch's modes (ndconv._padding): against torch.nn.functional.pad and its adjoint."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ndconv._padding import dilate, pad, pad_adjoint

TORCH_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
               "circular": "circular"}


def draw_padding(rng, shape, mode):
    limit = {"zeros": 4, "reflect": None, "replicate": 4, "circular": None}[mode]
    pads = []
    for n in shape:
        top = {"reflect": n - 1, "circular": n}.get(mode, limit)
        pads.append(tuple(int(v) for v in rng.integers(0, top + 1, 2)))
    return tuple(pads)


@pytest.mark.parametrize("mode", list(TORCH_MODES))
@pytest.mark.parametrize("seed", range(12))
def test_pad_matches_torch(mode, seed):
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(1, 4))
    shape = tuple(int(v) for v in rng.integers(2, 6, ndim))
    x = rng.standard_normal((2, 3, *shape))
    pads = draw_padding(rng, shape, mode)
    flat = tuple(v for pair in reversed(pads) for v in pair)
    expected = F.pad(torch.tensor(x), flat, mode=TORCH_MODES[mode]).numpy()
    np.testing.assert_array_equal(pad(x, pads, mode), expected)


@pytest.mark.parametrize("mode", list(TORCH_MODES))
@pytest.mark.parametrize("seed", range(12))
def test_pad_adjoint_satisfies_the_dot_test(mode, seed):
    rng = np.random.default_rng(100 + seed)
    ndim = int(rng.integers(1, 4))
    shape = tuple(int(v) for v in rng.integers(2, 6, ndim))
    pads = draw_padding(rng, shape, mode)
    x = rng.standard_normal((2, *shape))
    padded = pad(x, pads, mode)
    g = rng.standard_normal(padded.shape)
    folded = pad_adjoint(g, pads, mode, shape)
    assert folded.shape == x.shape
    assert np.vdot(padded, g) == pytest.approx(np.vdot(x, folded), rel=1e-12)


def test_pad_without_padding_returns_the_input_itself():
    x = np.ones((1, 2, 3))
    assert pad(x, ((0, 0),), "reflect") is x


def test_dilate_inserts_zeros_between_neighbours():
    x = np.arange(1, 5).reshape(1, 2, 2)
    np.testing.assert_array_equal(
        dilate(x, (2, 3)), [[[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]]]
    )
