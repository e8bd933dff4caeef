"""The one on-disk cache: compiled kernels and autotune results.

Its root is ``$NDCONV_CACHE_DIR``, or ``~/.cache/ndconv``. Everything in it
can be deleted at any time; it is only ever a shortcut. When the directory
cannot be written, callers get ``None`` and work without it.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from ._files import save_atomically


def cache_dir(name: str) -> Path | None:
    """A writable subdirectory of the cache, or ``None`` if there is none.

    >>> import os, tempfile
    >>> os.environ["NDCONV_CACHE_DIR"] = tempfile.mkdtemp()
    >>> cache_dir("direct").name
    'direct'
    >>> del os.environ["NDCONV_CACHE_DIR"]
    """
    return _writable_directory(os.environ.get("NDCONV_CACHE_DIR"), name)


@functools.lru_cache(maxsize=32)
def _writable_directory(root_setting: str | None, name: str) -> Path | None:
    # Probing touches the file system and the planner asks on every call, so the answer
    # is remembered per process (a directory that becomes unwritable later fails at write
    # time instead).
    root = Path(root_setting) if root_setting else Path.home() / ".cache" / "ndconv"
    directory = root / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            pass
    except OSError:
        return None
    return directory


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new file, never a part."""
    save_atomically(path, lambda stream: stream.write(text.encode()), force=True)
