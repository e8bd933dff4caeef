"""Small worked examples shared by the docs, the main job and the explainer.

The seed example: a 4x4 image and a 2x2 kernel whose feature map is easy to
check by hand. The kernel subtracts each pixel's lower-right neighbour from
it, a diagonal edge detector, so ``out[i, j] = image[i, j] - image[i+1, j+1]``.

>>> seed_image().shape, seed_kernel().shape
((4, 4), (2, 2))
"""

from __future__ import annotations

import numpy as np


def seed_image() -> np.ndarray:
    """The seed's 4x4 image (a new array on every call)."""
    return np.array(
        [
            [1, 2, 0, 1],
            [0, 1, 3, 2],
            [2, 1, 0, 1],
            [1, 0, 2, 3],
        ],
        dtype=np.float64,
    )


def seed_kernel() -> np.ndarray:
    """The seed's 2x2 kernel: +1 on the pixel, -1 on its lower-right neighbour."""
    return np.array([[1, 0], [0, -1]], dtype=np.float64)


def format_matrix(matrix: np.ndarray) -> str:
    """Render a 2-D array as right-aligned rows of numbers.

    >>> print(format_matrix(np.array([[1.0, -2.0], [30.0, 4.5]])))
     1.0  -2.0
    30.0   4.5
    """
    cells = [[f"{value:.1f}" for value in row] for row in matrix]
    width = max(len(cell) for row in cells for cell in row)
    return "\n".join("  ".join(cell.rjust(width) for cell in row) for row in cells)
