"""ndconv.demo: the main job trains, reaches its accuracy bars, draws its figure, repeats itself.

The quick run is shared by most tests (one training in a module fixture); determinism runs it
once more, and the full run is checked once against FULL_ACCURACY_BAR, the claim of the issue.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ndconv.demo import (
    FIGURE_NAME,
    FULL_ACCURACY_BAR,
    QUICK_ACCURACY_BAR,
    DemoResult,
    digits_model,
    format_report,
    run_demo,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory) -> DemoResult:
    output = tmp_path_factory.mktemp("demo") / "not" / "yet" / "there"
    return run_demo(quick=True, output_dir=output, progress=False)


def test_quick_run_reaches_its_accuracy_bar(quick_result):
    assert quick_result.test_accuracy >= QUICK_ACCURACY_BAR
    assert quick_result.epochs == len(quick_result.history) == 3


def test_training_loss_falls_and_accuracy_rises(quick_result):
    losses = [loss for loss, _ in quick_result.history]
    accuracies = [accuracy for _, accuracy in quick_result.history]
    assert losses == sorted(losses, reverse=True)
    assert accuracies == sorted(accuracies)
    assert all(0.0 <= accuracy <= 1.0 for accuracy in accuracies)


def test_figure_is_a_valid_png_in_the_created_directory(quick_result):
    path = quick_result.figure_path
    assert path.name == FIGURE_NAME
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    assert width > 500 and height > 300
    assert [p.name for p in path.parent.iterdir()] == [FIGURE_NAME]  # no temporary file left


def test_same_seed_gives_the_same_run_and_shows_progress(quick_result, tmp_path, capsys):
    again = run_demo(quick=True, output_dir=tmp_path, progress=True)
    assert again.history == quick_result.history
    assert again.test_accuracy == quick_result.test_accuracy
    bars = capsys.readouterr().err
    assert "epoch 1/3" in bars and "epoch 3/3" in bars
    assert "loss=" in bars and "acc=" in bars


def test_full_run_reaches_the_issue_accuracy_bar(tmp_path):
    result = run_demo(output_dir=tmp_path, progress=False)
    assert result.epochs == 15
    assert result.test_accuracy >= FULL_ACCURACY_BAR


def test_report_names_the_accuracy_and_figure(quick_result):
    report = format_report(quick_result)
    assert f"test accuracy: {quick_result.test_accuracy:.1%}" in report
    assert str(quick_result.figure_path) in report
    assert "trained 3 epochs" in report


def test_model_shapes():
    model = digits_model(np.random.default_rng(0))
    logits = model.forward(np.zeros((4, 1, 8, 8), dtype=np.float32))
    assert logits.shape == (4, 10) and logits.dtype == np.float32


@pytest.mark.parametrize(("seed", "error", "message"),
                         [(-1, ValueError, "seed must be >= 0; got seed=-1"),
                          (1.5, TypeError, r"seed must be an int; got 1\.5")])
def test_bad_seed_is_rejected_before_any_work(tmp_path, seed, error, message):
    with pytest.raises(error, match=message):
        run_demo(quick=True, output_dir=tmp_path / "unused", seed=seed)
    assert not (tmp_path / "unused").exists()
