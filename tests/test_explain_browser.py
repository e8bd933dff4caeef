"""The HTML explainer in a real headless browser (Debian's chromium driven by Playwright).

Skipped when chromium or playwright is missing, unless ``NDCONV_REQUIRE_BROWSER=1``
(CI sets it), which turns the skip into a failure. Screenshots go to
``$NDCONV_TEST_ARTIFACTS`` when set, else to the test's temporary directory.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import ndconv
from ndconv.examples import seed_image, seed_kernel
from ndconv.explain import explain

REQUIRED = os.environ.get("NDCONV_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def _unavailable(reason):
    if REQUIRED:
        pytest.fail(f"NDCONV_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _unavailable("chromium is not on PATH (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def artifacts(tmp_path):
    directory = Path(os.environ.get("NDCONV_TEST_ARTIFACTS", tmp_path))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def open_page(browser, tmp_path):
    """Load a trace's page from a file:// URL; fail on script errors or network requests."""
    pages = []

    def load(trace, name="page.html"):
        path = tmp_path / name
        path.write_text(trace.to_html(), encoding="utf-8")
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        problems = []
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("console", lambda message: message.type == "error"
                and problems.append(f"console: {message.text}"))
        page.on("request", lambda request: request.url.startswith("file://")
                or problems.append(f"network request: {request.url}"))
        page.goto(path.as_uri())
        pages.append((page, problems))
        return page

    yield load
    for page, problems in pages:
        page.close()
        assert problems == []


def patch(page):
    cells = page.locator("#grid .cell.in-patch")
    return sorted((int(c.get_attribute("data-row")), int(c.get_attribute("data-col")))
                  for c in cells.all())


def shown_value(page):
    dot = page.locator("#dot")
    text = dot.text_content()
    return float(text.rsplit("=", 1)[1].replace("\u2212", "-")), float(dot.get_attribute(
        "data-value")), text


def test_arrow_key_moves_the_patch_and_shows_ndconvs_value(open_page, artifacts):
    image, kernel = seed_image(), seed_kernel()
    expected = ndconv.correlate(image, kernel)
    page = open_page(explain(image, kernel))
    assert patch(page) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    shown, exact, _ = shown_value(page)
    assert shown == exact == pytest.approx(expected[0, 0], abs=1e-12)

    page.locator("body").press("ArrowRight")
    assert patch(page) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    shown, exact, text = shown_value(page)
    assert text == "out[0, 1] = 2\u00d71 + 0\u00d70 + 1\u00d70 + 3\u00d7(-1) = -1"
    assert shown == exact == pytest.approx(expected[0, 1], abs=1e-12)
    assert page.locator("#output .cell.current").get_attribute("data-step") == "1"
    page.screenshot(path=str(artifacts / "explain-seed-step2.png"), full_page=True)

    page.keyboard.press("ArrowDown")
    assert patch(page) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert shown_value(page)[1] == pytest.approx(expected[1, 1], abs=1e-12)
    page.keyboard.press("End")
    assert shown_value(page)[1] == pytest.approx(expected[2, 2], abs=1e-12)
    page.keyboard.press("ArrowRight")  # already at the last step: stays
    assert shown_value(page)[1] == pytest.approx(expected[2, 2], abs=1e-12)


def test_slider_mouse_and_variants(open_page, artifacts):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 9, (6, 6)).astype(float)
    kernel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    trace = explain(image, kernel, stride=2, padding=1)
    expected = ndconv.conv(image[None], kernel[None, None], stride=2, padding=1)[0]
    page = open_page(trace)

    page.locator("#slider").fill("4")
    assert page.locator("#dot").get_attribute("data-position") == "1,1"
    assert shown_value(page)[1] == pytest.approx(expected[1, 1], abs=1e-12)
    # Window of output (1, 1) on the padded grid: rows 2..4, cols 2..4.
    assert patch(page) == [(r, c) for r in range(2, 5) for c in range(2, 5)]

    page.locator('#output .cell[data-row="2"][data-col="0"]').hover()
    assert shown_value(page)[1] == pytest.approx(expected[2, 0], abs=1e-12)
    page.locator('#output .cell[data-row="0"][data-col="2"]').click()
    assert shown_value(page)[1] == pytest.approx(expected[0, 2], abs=1e-12)
    page.locator('#grid .cell[data-row="6"][data-col="1"]').click()  # drag/click on the input
    assert page.locator("#dot").get_attribute("data-position") == "2,0"

    page.get_by_label("transposed convolution back", exact=False).check()
    # The way back to the input's 6x6 shape needs output_padding=1.
    back = ndconv.conv_transpose(trace.output[None], kernel[None, None], stride=2, padding=1,
                                 output_padding=1)[0]
    assert back.shape == image.shape
    assert page.locator("#output .cell").count() == back.size
    assert "Kernel (rotated)" in page.locator("#kernel-title").text_content()
    page.locator("#description").click()  # leave the radio group, which keeps its arrow keys
    page.keyboard.press("ArrowRight")
    assert shown_value(page)[1] == pytest.approx(back[0, 1], abs=1e-12)
    assert page.locator("#grid .cell.inserted").count() > 0
    page.screenshot(path=str(artifacts / "explain-transposed.png"), full_page=True)

    page.get_by_label("dilation 2", exact=False).check()
    dilated = ndconv.conv(image[None], kernel[None, None], stride=2, padding=1, dilation=2)[0]
    assert page.locator("#output .cell").count() == dilated.size
    assert shown_value(page)[1] == pytest.approx(dilated[0, 0], abs=1e-12)
    assert len(patch(page)) == 9


def test_play_button_runs_to_the_end(open_page):
    trace = explain(np.arange(5.0), np.array([1.0, -1.0]))
    page = open_page(trace)
    from playwright.sync_api import expect

    page.locator("#play").click()
    assert page.locator("#play").get_attribute("aria-pressed") == "true"
    # Polled from outside: the page's content security policy forbids evaluated strings.
    expect(page.locator("#dot")).to_have_attribute("data-position", "0,3", timeout=10_000)
    expect(page.locator("#play")).to_have_attribute("aria-pressed", "false")
    assert shown_value(page)[1] == trace[-1].value == -1.0
