"""Writing files so that they appear complete or not at all.

Every file ndconv writes for a user (images, feature maps, explainer pages,
saved parameters) and for itself (the cache) goes through
:func:`save_atomically`: a temporary file in the destination's directory,
flushed to disk, then renamed into place. A crash or an error leaves the old
file, or nothing, never half a file.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _publish(temporary: Path, path: Path, force: bool) -> None:
    """Move the finished temporary file to ``path``."""
    if force:
        os.replace(temporary, path)
        return
    try:
        # A hard link fails if ``path`` exists, atomically: no window in which a file
        # created by someone else since our check gets replaced.
        os.link(temporary, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "already exists (use force to replace it)",
                              str(path)) from None
    except OSError:
        # File systems without hard links: check, then rename.
        if path.exists():
            raise FileExistsError(errno.EEXIST, "already exists (use force to replace it)",
                                  str(path)) from None
        os.replace(temporary, path)
    else:
        temporary.unlink()


def save_atomically(
    path: str | os.PathLike, write: Callable[[IO[bytes]], None], *, force: bool = False
) -> Path:
    """Write a file through ``write(stream)`` so that it appears complete or not at all.

    ``write`` fills a temporary file in the destination's directory, which
    is flushed to disk and then renamed to ``path``. On any error the
    temporary file is removed and ``path`` is untouched.

    Parameters
    ----------
    path : str or path-like
        Destination; its directory must exist.
    write : callable
        Called once with a binary stream opened for writing.
    force : bool, default False
        Replace an existing ``path``; otherwise an existing file is an error
        (checked atomically at the end, as well as before writing).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``force`` is false.
    OSError
        The directory is missing or not writable; the message names the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "hello.bin"
    >>> save_atomically(target, lambda stream: stream.write(b"hi")).read_bytes()
    b'hi'
    >>> save_atomically(target, lambda stream: stream.write(b"again"))
    Traceback (most recent call last):
    FileExistsError: [Errno 17] already exists (use force to replace it): '...hello.bin'
    """
    path = Path(path)
    if not force and path.exists():
        raise FileExistsError(errno.EEXIST, "already exists (use force to replace it)", str(path))
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(errno.ENOENT, "the directory does not exist", str(directory))
    try:
        handle, name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise type(error)(error.errno, f"cannot create a file in {directory} "
                                       f"({error.strerror})", str(path)) from None
    os.close(handle)  # reopened by name below: tifffile needs a stream with a file name
    temporary = Path(name)
    try:
        # mkstemp creates 0600; keep the replaced file's mode, or make a readable file.
        mode = stat.S_IMODE(path.stat().st_mode) if force and path.exists() else 0o644
        os.chmod(temporary, mode)
        with temporary.open("wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        _publish(temporary, path, force)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
