"""Write a file or a directory so that readers never see it half written.

The content is written under a temporary name in the destination's own
directory (same file system, so the final rename is atomic), flushed to disk,
and only then moved over the destination. A failure or a kill at any moment
leaves the previous file in place; at worst a stray hidden ``.*.tmp`` entry
remains next to it.

A directory cannot be renamed over a non-empty one, so replacing a directory
takes two renames: the old one aside, the new one in, then the old one is
deleted. Between the two renames the path is briefly absent, never damaged,
and a failure of the second rename puts the old directory back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid

__all__ = ["install_directory", "replacing", "temporary_name"]


def _fsync_path(path):
    """Flush a file, or a directory entry, to disk.

    Parameters
    ----------
    path : str
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # some platforms cannot open directories; nothing to flush then
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path):
    """Flush every file and directory under ``path`` (or the file ``path``) to disk.

    Parameters
    ----------
    path : str
    """
    if not os.path.isdir(path):
        _fsync_path(path)
        return
    for root, _, files in os.walk(path, topdown=False):
        for name in files:
            _fsync_path(os.path.join(root, name))
        _fsync_path(root)


def _swap_directory(tmp, path):
    """Move the directory ``tmp`` to ``path``, replacing a directory already there.

    Parameters
    ----------
    tmp, path : str
    """
    if not os.path.exists(path):
        os.replace(tmp, path)
        return
    aside = f"{path}.{uuid.uuid4().hex[:8]}.old"
    os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def install_directory(tmp, path):
    """Flush the finished directory ``tmp`` to disk and move it over ``path``.

    For writes in several steps (a sharded model store, whose blocks other
    processes write): the steps write under a temporary name made by
    :func:`temporary_name`, and this call is the last one.

    Parameters
    ----------
    tmp : str
        The finished directory, in the same directory as ``path``.
    path : str or os.PathLike
        The destination; a directory already there is replaced.
    """
    path = os.path.abspath(os.fspath(path))
    _fsync_tree(tmp)
    _swap_directory(tmp, path)
    _fsync_path(os.path.dirname(path))


def temporary_name(path):
    """A fresh hidden name next to ``path``, for content written before it is moved there.

    Parameters
    ----------
    path : str or os.PathLike
        The destination; its directory must exist.

    Returns
    -------
    str
        ``<directory>/.<name>.<random>.tmp``; nothing exists there yet.

    Raises
    ------
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(
            f"The directory {parent} does not exist; create it first "
            f"(mkdir -p {parent})."
        )
    return os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def replacing(path, *, directory=False):
    """Yield a temporary path; move it over ``path`` if the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        The destination; its directory must exist.
    directory : bool, default=False
        Whether the content is a directory (a zarr store) rather than a file.
        The temporary path does not exist yet when yielded: the writer
        creates it.

    Yields
    ------
    tmp : str
        Where to write, in the same directory as ``path``.

    Raises
    ------
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    # the writer creates it, as a file or a directory
    tmp = temporary_name(path)
    try:
        yield tmp
        _fsync_tree(tmp)
        if directory:
            _swap_directory(tmp, path)
        else:
            os.replace(tmp, path)
        _fsync_path(parent)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.unlink(tmp)
