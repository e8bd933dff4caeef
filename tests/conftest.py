"""Hypothesis profiles for the property tests.

"ci" (the default) is reproducible: examples are derived from each test's name rather than
drawn at random, nothing is stored between runs, and a failure prints the blob that replays it.
"thorough" runs 1000 examples per property; select it with
``NDCONV_HYPOTHESIS_PROFILE=thorough``.
"""

import os

from hypothesis import settings

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True
)
settings.register_profile(
    "thorough", parent=settings.get_profile("ci"), derandomize=False, max_examples=1000
)
settings.load_profile(os.environ.get("NDCONV_HYPOTHESIS_PROFILE", "ci"))
