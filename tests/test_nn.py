"""ndconv.nn: every backward against central finite differences, optimisers, save/load, errors.

Gradient checks run in float64 on small layers. For a layer ``f`` and a fixed random ``dy``,
the scalar ``L = sum(f(x) * dy)`` has gradient ``backward(dy)`` with respect to ``x`` and
``grads[name]`` with respect to each parameter; both are compared with central differences
``(L(v + h) - L(v - h)) / 2h`` at every element (the arrays are small). PyTorch's numbers for
the same layers are in ``tests/conformance/test_nn_torch.py``.
"""

from __future__ import annotations

import itertools
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ndconv import nn

STEP = 1e-6


def numeric_gradient(loss, value: np.ndarray) -> np.ndarray:
    """Central differences of ``loss()`` with respect to every element of ``value`` (in place)."""
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        original = value[index]
        value[index] = original + STEP
        upper = loss()
        value[index] = original - STEP
        lower = loss()
        value[index] = original
        grad[index] = (upper - lower) / (2 * STEP)
    return grad


def check_gradients(layer: nn.Layer, x: np.ndarray, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    analytic = {name: grad.copy() for name, grad in layer.grads.items()}
    assert dx.shape == x.shape
    for name, param in layer.params.items():
        assert analytic[name].shape == param.shape

    def loss() -> float:
        return float(np.sum(layer.forward(x) * dy))

    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-6, atol=1e-8)
    for name, param in layer.params.items():
        np.testing.assert_allclose(
            analytic[name], numeric_gradient(loss, param), rtol=1e-6, atol=1e-8, err_msg=name
        )


def random_input(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------------------
# Finite differences, layer by layer
# ---------------------------------------------------------------------------

CONV_CASES = {
    "1d stride dilation": (
        lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=2, dtype=np.float64, rng=0),
        (2, 2, 9),
    ),
    "2d groups same": (
        lambda: nn.Conv2d(4, 6, 3, padding="same", groups=2, dtype=np.float64, rng=0),
        (2, 4, 5, 5),
    ),
    "2d depthwise no bias": (
        lambda: nn.Conv2d(3, 3, (2, 3), groups=3, bias=False, dtype=np.float64, rng=0),
        (1, 3, 4, 5),
    ),
    "2d reflect": (
        lambda: nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect", dtype=np.float64, rng=0),
        (1, 2, 4, 4),
    ),
    "2d replicate strided": (
        lambda: nn.Conv2d(2, 2, 3, stride=2, padding=(1, 2), padding_mode="replicate",
                          dtype=np.float64, rng=0),
        (1, 2, 5, 4),
    ),
    "2d circular pairs": (
        lambda: nn.Conv2d(1, 2, 3, padding=[(0, 2), (1, 1)], padding_mode="circular",
                          dtype=np.float64, rng=0),
        (2, 1, 4, 4),
    ),
    "3d": (
        lambda: nn.Conv3d(2, 2, 2, stride=(1, 2, 1), padding=1, dtype=np.float64, rng=0),
        (1, 2, 3, 4, 3),
    ),
    "4 spatial dims": (
        lambda: nn.Conv(1, 2, (2, 2, 2, 2), dtype=np.float64, rng=0),
        (1, 1, 3, 3, 3, 3),
    ),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_matches_finite_differences(case):
    make, shape = CONV_CASES[case]
    check_gradients(make(), random_input(shape))


TRANSPOSE_CASES = {
    "1d stride output_padding": (
        lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1, output_padding=1,
                                   dtype=np.float64, rng=0),
        (2, 2, 4),
    ),
    "2d groups dilation": (
        lambda: nn.ConvTranspose2d(4, 2, 2, stride=2, dilation=2, groups=2,
                                   dtype=np.float64, rng=0),
        (1, 4, 3, 3),
    ),
    "2d output_padding beyond stride": (
        # Allowed because output_padding < dilation; dL/dx must be cropped to x's grid.
        lambda: nn.ConvTranspose2d(2, 2, 2, dilation=3, output_padding=(2, 1),
                                   dtype=np.float64, rng=0),
        (1, 2, 3, 2),
    ),
    "3d no bias": (
        lambda: nn.ConvTranspose(1, 2, (2, 1, 2), stride=(2, 1, 1), padding=(0, 0, 1),
                                 bias=False, dtype=np.float64, rng=0),
        (1, 1, 2, 2, 3),
    ),
}


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_backward_matches_finite_differences(case):
    make, shape = TRANSPOSE_CASES[case]
    check_gradients(make(), random_input(shape))


POOL_CASES = {
    "max 1d": (lambda: nn.MaxPool(3, stride=2, padding=1), (2, 2, 8)),
    "max 2d overlapping": (lambda: nn.MaxPool(3, stride=1), (1, 2, 5, 4)),
    "max 2d per-dim": (lambda: nn.MaxPool((2, 3), stride=(2, 1), padding=(1, 0)), (1, 1, 5, 5)),
    "max 3d": (lambda: nn.MaxPool(2), (1, 2, 4, 4, 4)),
    "avg 1d": (lambda: nn.AvgPool(3, stride=2, padding=1), (2, 2, 8)),
    "avg 2d overlapping": (lambda: nn.AvgPool((3, 2), stride=1, padding=(1, 0)), (1, 2, 4, 5)),
    "avg 3d": (lambda: nn.AvgPool(2, stride=(1, 2, 2)), (1, 1, 3, 4, 4)),
}


@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_backward_matches_finite_differences(case):
    make, shape = POOL_CASES[case]
    check_gradients(make(), random_input(shape))


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (nn.ReLU, (3, 4, 5)),
        (nn.Flatten, (3, 2, 2, 2)),
        (lambda: nn.Linear(5, 3, dtype=np.float64, rng=0), (4, 5)),
        (lambda: nn.Linear(5, 3, dtype=np.float64, rng=0), (2, 3, 5)),
        (lambda: nn.Linear(4, 2, bias=False, dtype=np.float64, rng=0), (3, 4)),
    ],
    ids=["relu", "flatten", "linear", "linear leading dims", "linear no bias"],
)
def test_elementwise_and_dense_backward_matches_finite_differences(make, shape):
    check_gradients(make(), random_input(shape))


def test_sequential_backward_matches_finite_differences():
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, dtype=np.float64, rng=0), nn.ReLU(),
        nn.MaxPool(2), nn.Conv2d(3, 2, 2, dtype=np.float64, rng=1), nn.Flatten(),
        nn.Linear(2, 3, dtype=np.float64, rng=2),
    )
    check_gradients(model, random_input((2, 1, 4, 4)))


def test_softmax_cross_entropy_gradient_matches_finite_differences():
    logits = random_input((4, 5))
    labels = np.array([0, 4, 2, 2])
    _, dlogits = nn.softmax_cross_entropy(logits, labels)
    numeric = numeric_gradient(lambda: nn.softmax_cross_entropy(logits, labels)[0], logits)
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    loss, dlogits = nn.softmax_cross_entropy(np.array([[1000.0, 0.0], [0.0, 1000.0]]), [0, 0])
    assert loss == pytest.approx(500.0)
    np.testing.assert_allclose(dlogits, [[0.0, 0.0], [-0.5, 0.5]])


# ---------------------------------------------------------------------------
# Forward values and conventions
# ---------------------------------------------------------------------------


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order():
    pool = nn.MaxPool(2)
    pool.forward(np.array([[[[1.0, 1.0], [1.0, 1.0]]]]))
    np.testing.assert_array_equal(pool.backward(np.array([[[[1.0]]]])), [[[[1, 0], [0, 0]]]])


def test_max_pool_padding_never_wins():
    pool = nn.MaxPool(3, stride=1, padding=1)
    x = -np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(pool.forward(x), x)


def test_avg_pool_counts_padding_in_the_mean():
    np.testing.assert_array_equal(
        nn.AvgPool(2, padding=1).forward(np.ones((1, 1, 2))), [[[0.5, 0.5]]]
    )


def test_int_pool_arguments_adapt_to_the_input_rank():
    pool = nn.MaxPool(2)
    assert pool.forward(np.zeros((1, 1, 4))).shape == (1, 1, 2)
    assert pool.forward(np.zeros((1, 1, 4, 6, 8))).shape == (1, 1, 2, 3, 4)


def test_layers_default_to_float32_and_keep_it():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.AvgPool(2), nn.Flatten(),
                          nn.Linear(2, 2, rng=0))
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    y = model.forward(x)
    assert y.dtype == np.float32
    assert model.backward(np.ones_like(y)).dtype == np.float32
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert all(g.dtype == np.float32 for g in model.grads.values())


def test_he_initialisation_scale_and_zero_bias():
    layer = nn.Conv2d(32, 64, 3, rng=0)
    fan_in = 32 * 3 * 3
    assert layer.params["weight"].std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.05)
    assert abs(layer.params["weight"].mean()) < 0.01
    np.testing.assert_array_equal(layer.params["bias"], 0)
    grouped = nn.Conv2d(32, 64, 3, groups=4, rng=0)
    assert grouped.params["weight"].std() == pytest.approx(np.sqrt(2 / (8 * 9)), rel=0.05)


def test_seed_fixes_the_initial_weights():
    a, b = nn.Linear(3, 4, rng=7), nn.Linear(3, 4, rng=7)
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])
    assert not np.array_equal(a.params["weight"], nn.Linear(3, 4, rng=8).params["weight"])


def test_backward_overwrites_grads_in_place():
    layer = nn.Linear(2, 2, dtype=np.float64, rng=0)
    grad_array = layer.grads["weight"]
    for scale in (1.0, 3.0):
        layer.forward(np.ones((1, 2)))
        layer.backward(np.full((1, 2), scale))
    assert layer.grads["weight"] is grad_array
    np.testing.assert_array_equal(grad_array, np.full((2, 2), 3.0))


def test_sequential_shares_the_layers_arrays():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=1))
    assert list(model.params) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.params["2.weight"] is model[2].params["weight"]
    assert model.grads["0.bias"] is model[0].grads["bias"]
    assert len(model) == 3
    assert [type(layer) for layer in model] == [nn.Linear, nn.ReLU, nn.Linear]


# ---------------------------------------------------------------------------
# Optimisers
# ---------------------------------------------------------------------------


def test_sgd_without_momentum_steps_against_the_gradient():
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    nn.SGD([(w, dw)], lr=0.1).step()
    np.testing.assert_allclose(w, [0.95, -2.025])


def test_sgd_momentum_accumulates_velocity():
    w, dw = np.zeros(1), np.ones(1)
    sgd = nn.SGD([(w, dw)], lr=1.0, momentum=0.5)
    for _ in range(3):
        sgd.step()
    # velocities 1, 1.5, 1.75
    np.testing.assert_allclose(w, [-4.25])


def test_adam_follows_its_update_rule():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(4)
    dw = np.empty(4)
    expected = w.copy()
    m, v = np.zeros(4), np.zeros(4)
    adam = nn.Adam([(w, dw)], lr=0.05, betas=(0.8, 0.9), eps=1e-6)
    for t in range(1, 4):
        dw[:] = rng.standard_normal(4)
        m = 0.8 * m + 0.2 * dw
        v = 0.9 * v + 0.1 * dw**2
        expected -= 0.05 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.9**t)) + 1e-6)
        adam.step()
    np.testing.assert_allclose(w, expected, rtol=1e-12)


@pytest.mark.parametrize("make", [lambda p: nn.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: nn.Adam(p, lr=0.1)], ids=["sgd", "adam"])
def test_optimisers_accept_layers_lists_and_pairs_and_step_in_place(make):
    first, second = nn.Linear(2, 2, rng=0), nn.Linear(2, 1, rng=1)
    model = nn.Sequential(first, second)
    for grads in (first.grads, second.grads):
        for g in grads.values():
            g[...] = 1.0
    weight = first.params["weight"]
    before = weight.copy()
    for parameters in (model, [first, second], [(weight, first.grads["weight"])]):
        make(parameters).step()
    assert model.params["0.weight"] is weight
    assert np.all(weight < before)


def test_training_lowers_the_loss_deterministically():
    def train(seed: int) -> list[float]:
        rng = np.random.default_rng(seed)
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool(2), nn.Flatten(),
            nn.Linear(16, 3, rng=rng),
        )
        images = rng.random((12, 1, 4, 4), dtype=np.float32)
        labels = rng.integers(0, 3, 12)
        optimiser = nn.Adam(model, lr=0.01)
        losses = []
        for _ in range(8):
            loss, dlogits = nn.softmax_cross_entropy(model.forward(images), labels)
            model.backward(dlogits)
            optimiser.step()
            losses.append(loss)
        return losses

    losses = train(3)
    assert losses == train(3)
    assert losses[-1] < 0.8 * losses[0]
    assert all(later < earlier for earlier, later in itertools.pairwise(losses))


# ---------------------------------------------------------------------------
# Save and load
# ---------------------------------------------------------------------------


def small_model(seed: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 3, rng=seed), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8, 3, rng=seed))


def test_save_load_round_trip_copies_into_the_existing_arrays(tmp_path):
    path = tmp_path / "model.npz"
    trained, fresh = small_model(0), small_model(1)
    nn.save(path, trained)
    arrays = dict(fresh.params)
    nn.load(str(path), fresh)
    for name, value in trained.params.items():
        np.testing.assert_array_equal(fresh.params[name], value)
        assert fresh.params[name] is arrays[name]
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old contents")
    nn.save(path, small_model(0))
    with np.load(path) as archive:
        assert sorted(archive.files) == sorted(small_model(0).params)


def test_load_casts_a_float64_file_into_a_float32_model(tmp_path):
    path = tmp_path / "model.npz"
    nn.save(path, nn.Linear(2, 2, dtype=np.float64, rng=0))
    model = nn.Linear(2, 2, rng=1)
    nn.load(path, model)
    assert model.params["weight"].dtype == np.float32
    np.testing.assert_allclose(model.params["weight"],
                               nn.Linear(2, 2, dtype=np.float64, rng=0).params["weight"],
                               rtol=1e-7)


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (lambda p: p.write_bytes(b"not a zip file") and p, "is not a readable .npz parameter"),
        (lambda p: (np.save(p.with_suffix(".npy"), np.ones(3)), p.with_suffix(".npy"))[1],
         "holds a single array"),
        (lambda p: write_npz(p, weight=np.ones((2, 2), np.float32)),
         r"missing \['bias'\], unexpected \[\]"),
        (lambda p: write_npz(p, weight=np.ones((2, 2)), bias=np.ones(2), extra=np.ones(1)),
         r"missing \[\], unexpected \['extra'\]"),
        (lambda p: write_npz(p, weight=np.ones((2, 3)), bias=np.ones(2)),
         r"'weight' .* has shape \(2, 3\); the model's has shape \(2, 2\)"),
        (lambda p: write_npz(p, weight=np.ones((2, 2), np.int64), bias=np.ones(2)),
         "'weight' .* has dtype int64; expected a floating dtype"),
        (lambda p: write_npz(p, weight=np.array([None] * 4).reshape(2, 2), bias=np.ones(2)),
         "is not a readable .npz parameter file"),
    ],
    ids=["garbage", "npy", "missing", "unexpected", "shape", "dtype", "pickled"],
)
def test_load_rejects_bad_files_and_leaves_the_model_unchanged(tmp_path, make_file, message):
    path = make_file(tmp_path / "bad.npz")
    model = nn.Linear(2, 2, rng=0)
    before = {name: value.copy() for name, value in model.params.items()}
    with pytest.raises(ValueError, match=message):
        nn.load(path, model)
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, before[name])


def test_load_of_a_truncated_file_is_a_value_error(tmp_path):
    path = tmp_path / "model.npz"
    nn.save(path, small_model(0))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"is not a readable \.npz parameter file"):
        nn.load(path, small_model(0))
    assert not zipfile.is_zipfile(path)


def test_load_of_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "absent.npz", small_model(0))


# ---------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: nn.Conv(1, 2, 3), TypeError,
         r"Conv takes kernel_size as one int per spatial dim, e\.g\. \(3, 3\).*Conv2d"),
        (lambda: nn.ConvTranspose(1, 2, 3), TypeError, "use ConvTranspose1d, ConvTranspose2d"),
        (lambda: nn.Conv2d(0, 2, 3), ValueError, "in_channels must be positive; got in_channels=0"),
        (lambda: nn.Conv2d(1.0, 2, 3), TypeError, r"in_channels must be an int; got 1\.0"),
        (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError, "groups=4 must divide out_channels=6"),
        (lambda: nn.Conv2d(1, 2, (3, 3, 3)), ValueError, "kernel_size must be an int or a "
         "sequence of 2 ints"),
        (lambda: nn.Conv2d(1, 2, 0), ValueError, "kernel_size must be positive"),
        (lambda: nn.Conv2d(1, 2, 3, stride=0), ValueError, "stride must be positive; got stride=0"),
        (lambda: nn.Conv2d(1, 2, 3, padding="sme"), ValueError, "did you mean 'same'"),
        (lambda: nn.Conv2d(1, 2, 3, padding=-1), ValueError, "padding"),
        (lambda: nn.Conv2d(1, 2, 3, padding_mode="reflex"), ValueError,
         r"padding_mode='reflex' is not valid.*did you mean 'reflect'"),
        (lambda: nn.Conv2d(1, 2, 3, algorithm="fast"), ValueError,
         "algorithm='fast' is not valid; expected one of 'auto'"),
        (lambda: nn.Conv2d(1, 2, 3, dtype=np.int32), TypeError,
         "dtype must be a floating dtype such as float32; got dtype=int32"),
        (lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2), ValueError,
         "output_padding must be smaller than stride or dilation"),
        (lambda: nn.MaxPool(2, padding=2), ValueError,
         r"padding must be at most half the kernel size .* got padding\[0\]=2 with "
         r"kernel_size\[0\]=2"),
        (lambda: nn.MaxPool((2, 2), stride=(1, 1, 1)), ValueError,
         r"must give the same number of spatial dims; got lengths \{'kernel_size': 2, "
         r"'stride': 3\}"),
        (lambda: nn.AvgPool(2, stride=1.5), TypeError, r"stride must be an int; got 1\.5"),
        (lambda: nn.Linear(3, 0), ValueError, "out_features must be positive"),
        (lambda: nn.Sequential(nn.ReLU(), np.ones(2)), TypeError,
         "Sequential takes Layer objects; got ndarray at position 1"),
        (lambda: nn.SGD([], lr=-0.1), ValueError, r"lr must be positive and finite; got lr=-0\.1"),
        (lambda: nn.SGD([], lr="0.1"), TypeError, "lr must be a real number; got '0.1'"),
        (lambda: nn.SGD([], momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
        (lambda: nn.Adam([], betas=(0.9,)), ValueError, "betas must be a pair"),
        (lambda: nn.Adam([], betas=(0.9, 1.5)), ValueError, r"betas\[1\] must be in \[0, 1\)"),
        (lambda: nn.SGD([np.ones(2)]), TypeError,
         r"parameters must be a Layer, or an iterable of Layers and \(param, grad\) array "
         r"pairs; got ndarray at position 0"),
        (lambda: nn.SGD([(np.ones(2), np.ones(3))]), ValueError,
         r"each grad must be an ndarray of its param's shape \(2,\); got \(3,\)"),
        (lambda: nn.SGD([(np.ones(2, int), np.ones(2))]), TypeError,
         "each param must be a writable floating ndarray"),
    ],
)
def test_bad_constructor_arguments_name_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_parameter_given_twice_is_rejected():
    layer = nn.Linear(2, 2, rng=0)
    with pytest.raises(ValueError, match=r"the same parameter array .* was given twice"):
        nn.Adam([layer, nn.Sequential(layer)])


@pytest.mark.parametrize(
    ("layer", "x", "error", "message"),
    [
        (nn.Conv2d(1, 2, 3, rng=0), np.ones((1, 4, 4)), ValueError,
         r"Conv2d takes a batch shaped \(N, C, \*spatial\) with 2 spatial dims; "
         r"got x.shape=\(1, 4, 4\)"),
        (nn.Conv2d(1, 2, 3, rng=0), np.ones((1, 3, 4, 4)), ValueError, "x has 3 channels"),
        (nn.Conv2d(1, 1, 3, padding=4, padding_mode="reflect", rng=0), np.ones((1, 1, 4, 4)),
         ValueError, "reflect"),
        (nn.MaxPool((2, 2)), np.ones((1, 1, 4)), ValueError,
         r"MaxPool was built for 2 spatial dims but x.shape=\(1, 1, 4\) has 1"),
        (nn.MaxPool(2), np.ones((4, 4)), ValueError,
         r"MaxPool takes x shaped \(N, C, \*spatial\)"),
        (nn.AvgPool(5), np.ones((1, 1, 4)), ValueError,
         r"AvgPool kernel_size 5 is larger than the padded input along spatial dim 0"),
        (nn.MaxPool(2), np.ones((1, 1, 4), dtype=int), TypeError,
         "MaxPool needs a floating input; got x.dtype=int64"),
        (nn.Linear(3, 2, rng=0), np.ones((2, 4)), ValueError,
         r"Linear expects x with 3 features in its last axis; got x.shape=\(2, 4\)"),
    ],
)
def test_bad_inputs_raise_at_forward(layer, x, error, message):
    with pytest.raises(error, match=message):
        layer.forward(x)


@pytest.mark.parametrize("layer", [nn.Conv1d(1, 1, 1, rng=0), nn.ReLU(), nn.MaxPool(2),
                                   nn.Linear(1, 1, rng=0), nn.Flatten()],
                         ids=lambda layer: type(layer).__name__)
def test_backward_before_forward_is_a_runtime_error(layer):
    with pytest.raises(RuntimeError, match=rf"{type(layer).__name__}\.backward called before "
                                           "forward"):
        layer.backward(np.ones((1, 1, 2)))


@pytest.mark.parametrize(
    ("logits", "labels", "error", "message"),
    [
        (np.ones((2, 3)), np.array([0.0, 1.0]), TypeError, "labels must be integer class"),
        (np.ones((2, 3)), np.array([0, 1, 2]), ValueError,
         r"labels must have shape \(N,\) = \(2,\)"),
        (np.ones((2, 3)), np.array([0, 3]), ValueError,
         r"labels must lie in \[0, 3\) for 3 classes; got values from 0 to 3"),
        (np.ones(3), np.array([0]), ValueError, r"logits must have shape \(N, K\)"),
    ],
)
def test_softmax_cross_entropy_rejects_bad_arguments(logits, labels, error, message):
    with pytest.raises(error, match=message):
        nn.softmax_cross_entropy(logits, labels)


# ---------------------------------------------------------------------------
# The guide
# ---------------------------------------------------------------------------

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "nn.md"
GUIDE_BLOCKS = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)


@pytest.mark.parametrize("block", GUIDE_BLOCKS,
                         ids=[f"block{i}" for i in range(len(GUIDE_BLOCKS))])
def test_guide_example_runs(block):
    exec(compile(block, str(GUIDE), "exec"), {})
