"""The main job: a small CNN learns edge-detecting kernels from handwritten digits.

:func:`run_demo` trains a two-layer convolutional network built from
:mod:`ndconv.nn` on scikit-learn's bundled 8x8 digits (1797 images, no
download) with a fixed seed, reports the accuracy on a held-out fifth of them,
and draws a figure: the learned first-layer kernels, the feature maps they
produce on one test digit, and, for comparison, the classic Sobel kernels
applied to a photograph that ships with scikit-learn. ``ndconv demo`` on the
command line calls it.

The full run reaches at least :data:`FULL_ACCURACY_BAR` test accuracy; the
quick run (fewer epochs, for smoke tests) at least :data:`QUICK_ACCURACY_BAR`.
Needs the ``demo`` extra (scikit-learn, matplotlib, Pillow).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from . import nn
from ._files import save_atomically
from ._shapes import check_int
from .api import conv, correlate

__all__ = [
    "FIGURE_NAME", "FULL_ACCURACY_BAR", "QUICK_ACCURACY_BAR", "DemoResult", "digits_model",
    "format_report", "run_demo",
]

FULL_ACCURACY_BAR = 0.97
"""Test accuracy the full demo reaches (checked by the test suite for the default seed)."""
QUICK_ACCURACY_BAR = 0.90
"""Test accuracy ``run_demo(quick=True)`` reaches."""

FIGURE_NAME = "ndconv-demo.png"
"""The file :func:`run_demo` writes in its ``output_dir``."""
_FULL_EPOCHS = 15
_QUICK_EPOCHS = 3
_BATCH_SIZE = 32
_LEARNING_RATE = 1e-2
_TEST_FRACTION = 0.2
_FIRST_CHANNELS, _SECOND_CHANNELS = 16, 32
# Every convolution of the demo names its algorithm. "auto" would choose by what the
# compiled-kernel cache holds, so the arithmetic (and a seed's numbers) could change from
# one run to the next, and a cold cache could spend seconds compiling. The network's
# convolutions are small and many-channelled, where the "numpy" algorithm (BLAS) is the
# fastest, and it handles the one photograph in milliseconds.
_ALGORITHM = "numpy"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` measured.

    Attributes
    ----------
    test_accuracy : float
        Fraction of the held-out digits classified correctly, in [0, 1].
    train_seconds : float
        Wall time of the training loop alone.
    epochs : int
        Passes over the training digits.
    history : tuple of (float, float)
        Per epoch, the mean training loss and the training accuracy.
    figure_path : pathlib.Path
        The PNG with the learned kernels, their feature maps and the Sobel example.
    """

    test_accuracy: float
    train_seconds: float
    epochs: int
    history: tuple[tuple[float, float], ...]
    figure_path: Path


def _require_demo_extra() -> None:
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"the ndconv demo needs scikit-learn and matplotlib ({error}); "
            f"install them with: pip install 'ndconv[demo]'"
        ) from error


def _digits(seed: int) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Train and test images ``(N, 1, 8, 8)`` in [0, 1] (float32), and their labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, np.newaxis]
    return train_test_split(  # type: ignore[no-any-return]
        images, digits.target, test_size=_TEST_FRACTION, stratify=digits.target,
        random_state=seed,
    )


def digits_model(rng: np.random.Generator) -> nn.Sequential:
    """The demo's network: two 3x3 convolutions with ReLU and 2x2 max pooling, then a linear layer.

    ``(N, 1, 8, 8) -> conv 16 -> pool -> (N, 16, 4, 4) -> conv 32 -> pool ->
    (N, 32, 2, 2) -> flatten 128 -> 10 class scores``, 6 090 parameters.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the initial weights.

    Returns
    -------
    ndconv.nn.Sequential

    Examples
    --------
    >>> import numpy as np
    >>> from ndconv.demo import digits_model
    >>> model = digits_model(np.random.default_rng(0))
    >>> model(np.zeros((5, 1, 8, 8), dtype=np.float32)).shape
    (5, 10)
    >>> sum(p.size for p in model.params.values())
    6090
    """
    return nn.Sequential(
        nn.Conv2d(1, _FIRST_CHANNELS, 3, padding=1, rng=rng, algorithm=_ALGORITHM),
        nn.ReLU(),
        nn.MaxPool(2),
        nn.Conv2d(_FIRST_CHANNELS, _SECOND_CHANNELS, 3, padding=1, rng=rng,
                  algorithm=_ALGORITHM),
        nn.ReLU(),
        nn.MaxPool(2),
        nn.Flatten(),
        nn.Linear(_SECOND_CHANNELS * 2 * 2, 10, rng=rng),
    )


def _train_epoch(
    model: nn.Sequential,
    optimiser: nn.Adam,
    images: NDArray,
    labels: NDArray,
    rng: np.random.Generator,
    bar_title: str,
    disable_bar: bool | None,
) -> tuple[float, float]:
    """One pass over shuffled mini-batches; the mean loss and the accuracy seen during it."""
    from tqdm import tqdm

    order = rng.permutation(len(images))
    batches = [order[i : i + _BATCH_SIZE] for i in range(0, len(order), _BATCH_SIZE)]
    loss_sum, correct, seen = 0.0, 0, 0
    with tqdm(batches, desc=bar_title, unit="batch", disable=disable_bar, leave=True) as bar:
        for batch in bar:
            logits = model.forward(images[batch])
            loss, dlogits = nn.softmax_cross_entropy(logits, labels[batch])
            model.backward(dlogits)
            optimiser.step()
            loss_sum += loss * len(batch)
            correct += int((logits.argmax(axis=1) == labels[batch]).sum())
            seen += len(batch)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.1%}",
                            refresh=False)
    return loss_sum / seen, correct / seen


def _gray_photo() -> NDArray:
    """scikit-learn's bundled ``china.jpg`` as float32 luminance in [0, 1]."""
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image("china.jpg").astype(np.float32) / 255.0
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma


def _save_figure(path: Path, model: nn.Sequential, digit: NDArray, label: int) -> None:
    """Draw the learned kernels, their feature maps on ``digit`` and Sobel edges; write PNG."""
    from matplotlib.figure import Figure

    from .kernels import make_kernel

    first = model[0]
    kernels, bias = first.params["weight"], first.params["bias"]
    feature_maps = conv(digit[np.newaxis], kernels, bias, padding=1, algorithm=_ALGORITHM)[0]
    photo = _gray_photo()
    edges_x = correlate(photo, make_kernel("sobel-x"), mode="same", algorithm=_ALGORITHM)
    edges_y = correlate(photo, make_kernel("sobel-y"), mode="same", algorithm=_ALGORITHM)

    count = len(kernels)
    columns = count // 2
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    learned, classic = figure.subfigures(2, 1, height_ratios=(1.5, 1))
    learned.suptitle(
        f"learned: the first layer's {count} kernels (3x3, blue negative, red positive) "
        f"and their feature maps on a test digit"
    )
    digit_panel, grid_panel = learned.subfigures(1, 2, width_ratios=(1, 4))
    digit_axes = digit_panel.subplots()
    digit_axes.imshow(digit[0], cmap="gray_r")
    digit_axes.set_title(f"input: a {label}")
    grid = grid_panel.subplots(4, columns)
    limit = float(np.abs(kernels).max())
    for i in range(count):
        row, column = 2 * (i // columns), i % columns
        grid[row, column].imshow(kernels[i, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
        grid[row + 1, column].imshow(feature_maps[i], cmap="magma")
        grid[row, column].set_title(str(i), fontsize="small")
    for row, text in enumerate(("kernels", "maps") * 2):
        grid[row, 0].set_ylabel(text)
    classic.suptitle("classic kernels: Sobel x and y on scikit-learn's china.jpg")
    edge_limit = float(np.percentile(np.abs([edges_x, edges_y]), 99))
    photo_panels = [
        ("gray image", photo, {"cmap": "gray"}),
        ("sobel-x", edges_x, {"cmap": "RdBu_r", "vmin": -edge_limit, "vmax": edge_limit}),
        ("sobel-y", edges_y, {"cmap": "RdBu_r", "vmin": -edge_limit, "vmax": edge_limit}),
        ("edge magnitude", np.hypot(edges_x, edges_y),
         {"cmap": "gray_r", "vmin": 0, "vmax": edge_limit}),
    ]
    for axes, (title, image, style) in zip(classic.subplots(1, 4), photo_panels):
        axes.imshow(image, **style)
        axes.set_title(title)
    for axes in figure.get_axes():
        axes.set_xticks([])
        axes.set_yticks([])
    save_atomically(path, lambda stream: figure.savefig(stream, format="png"), force=True)


def run_demo(
    *,
    quick: bool = False,
    output_dir: Path | str = ".",
    seed: int = 0,
    progress: bool | None = None,
) -> DemoResult:
    """Train the demo CNN on the 8x8 digits, test it, and draw what it learned.

    The digits (values 0-16, scaled to [0, 1]) are split 80/20 into training
    and test sets, stratified by class. The network of :func:`digits_model`
    is trained with Adam (learning rate 0.01) on mini-batches of 32 with
    softmax cross-entropy. Everything random (the split, the initial
    weights, the batch order) follows ``seed``, so a seed gives the same
    result every time.

    Parameters
    ----------
    quick : bool, default False
        Train for 3 epochs instead of 15: a smoke test that still reaches
        :data:`QUICK_ACCURACY_BAR`; the full run reaches :data:`FULL_ACCURACY_BAR`.
    output_dir : path-like, default "."
        Where to write the figure (``ndconv-demo.png``), created if missing.
    seed : int, default 0
        Seeds the train/test split, the initial weights and the batch order.
    progress : bool or None, default None
        Show a progress bar per epoch (on stderr) with the running loss and
        accuracy; None shows it only when stderr is a terminal.

    Returns
    -------
    DemoResult

    Raises
    ------
    ImportError
        Without scikit-learn or matplotlib (the ``demo`` extra).
    TypeError, ValueError
        ``seed`` not a non-negative int.

    Examples
    --------
    >>> import tempfile
    >>> from ndconv.demo import run_demo
    >>> result = run_demo(quick=True, output_dir=tempfile.mkdtemp())  # doctest: +SKIP
    >>> result.epochs, result.test_accuracy >= 0.9, result.figure_path.name  # doctest: +SKIP
    (3, True, 'ndconv-demo.png')
    """
    seed = check_int(seed, "seed", minimum=0)
    _require_demo_extra()
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    train_images, test_images, train_labels, test_labels = _digits(seed)
    rng = np.random.default_rng(seed)
    model = digits_model(rng)
    optimiser = nn.Adam(model, lr=_LEARNING_RATE)
    epochs = _QUICK_EPOCHS if quick else _FULL_EPOCHS
    disable_bar = None if progress is None else not progress
    # This network's matrices are too small to share among BLAS threads: on a busy 2-core
    # machine the threads' hand-offs made a training step about ten times slower. One
    # thread is also the same arithmetic on every machine.
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        history = tuple(
            _train_epoch(model, optimiser, train_images, train_labels, rng,
                         f"epoch {epoch + 1}/{epochs}", disable_bar)
            for epoch in range(epochs)
        )
        train_seconds = time.perf_counter() - start
        predicted = model.forward(test_images).argmax(axis=1)
    test_accuracy = float((predicted == test_labels).mean())
    figure_path = output / FIGURE_NAME
    _save_figure(figure_path, model, test_images[0], int(test_labels[0]))
    return DemoResult(test_accuracy, train_seconds, epochs, history, figure_path)


def format_report(result: DemoResult) -> str:
    """A few lines summarising a :class:`DemoResult`, for the command line.

    Examples
    --------
    >>> from pathlib import Path
    >>> from ndconv.demo import DemoResult, format_report
    >>> print(format_report(DemoResult(0.981, 12.3, 15, ((0.9, 0.7), (0.05, 0.99)),
    ...                                Path("ndconv-demo.png"))))
    trained 15 epochs in 12.3 s: final training loss 0.050, training accuracy 99.0%
    test accuracy: 98.1% on held-out digits
    figure: ndconv-demo.png
    """
    loss, accuracy = result.history[-1]
    return "\n".join([
        f"trained {result.epochs} epochs in {result.train_seconds:.1f} s: "
        f"final training loss {loss:.3f}, training accuracy {accuracy:.1%}",
        f"test accuracy: {result.test_accuracy:.1%} on held-out digits",
        f"figure: {result.figure_path}",
    ])
