"""``python -m ndconv``: slide the seed's 2x2 kernel over its 4x4 image and print each step."""

from __future__ import annotations

import numpy as np

from . import correlate
from ._shapes import conv_spec
from .algorithms.reference import window
from .examples import format_matrix, seed_image, seed_kernel


def _term(value: float) -> str:
    return f"({value:g})" if value < 0 else f"{value:g}"


def main() -> None:
    """Print the image, the kernel, every dot product and the feature map."""
    image, kernel = seed_image(), seed_kernel()
    feature_map = correlate(image, kernel)
    spec = conv_spec((1, 1, *image.shape), (1, 1, *kernel.shape))
    print("image (4x4):", format_matrix(image), sep="\n")
    print("\nkernel (2x2):", format_matrix(kernel), sep="\n")
    print("\neach output = sum(patch * kernel):")
    for position in np.ndindex(*feature_map.shape):
        patch = image[window(position, spec)]
        terms = " + ".join(f"{_term(p)}*{_term(k)}" for p, k in zip(patch.ravel(), kernel.ravel()))
        print(f"  out{position} = {terms} = {feature_map[position]:g}")
    print("\nfeature map (3x3):", format_matrix(feature_map), sep="\n")


if __name__ == "__main__":
    main()
