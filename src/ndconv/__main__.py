"""``python -m ndconv``: the ``ndconv`` command line (see :mod:`ndconv.cli`).

``python -m ndconv explain`` walks through the seed's 2x2 kernel sliding over
its 4x4 image, printing every dot product.
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
