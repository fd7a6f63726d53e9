"""The two ways loading a model fails, in one wording each: "not a model file" and "damaged".

A path that holds something else (a NumPy array, a CSV, a netCDF file of
data, a directory) is *not a daskmix model file*: the message says what it
looks like, when the first bytes tell cheaply, and where model files come
from. A file that shows a daskmix model's header but cannot be read, or
whose content does not match its checksum, is a *damaged* model file: the
message says so and how to get a good one back. Both are
:class:`~daskmix.exceptions.ModelFileError`, so the command line exits with
code 4 for either.
"""

from __future__ import annotations

import os

from daskmix.exceptions import ModelFileError

__all__ = [
    "HDF5_SIGNATURE", "MODEL_MARKERS", "damaged", "looks_like", "mentions", "not_a_model",
    "store_mentions",
]

#: The first bytes of every HDF5 (so netCDF-4) file daskmix writes.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Byte strings every model file holds verbatim: the ``daskmix_format``
#: attribute's name and value. One damaged byte cannot remove both.
MODEL_MARKERS = (b"daskmix_format", b"daskmix-model")

#: Leading bytes of formats users are likely to pass by mistake, and what to call them.
_SIGNATURES = (
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"PK\x03\x04", "a zip archive, such as a NumPy .npz file"),
    (b"PAR1", "a Parquet file"),
    (b"CDF\x01", "a netCDF-3 (classic) file"),
    (b"CDF\x02", "a netCDF-3 (64-bit offset) file"),
    (b"CDF\x05", "a netCDF-3 (64-bit data) file"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    *((bytes([0x80, protocol]), "a Python pickle") for protocol in (2, 3, 4, 5)),
    (HDF5_SIGNATURE, "an HDF5 file"),
)

#: How many leading bytes :func:`looks_like` reads.
HEAD_BYTES = 512


def not_a_model(source, what):
    """The error for a path that holds something other than a daskmix model.

    Parameters
    ----------
    source : str
        The path.
    what : str
        What it is, as far as cheaply known ("a NumPy .npy array").

    Returns
    -------
    ModelFileError
    """
    return ModelFileError(
        f"{source} is not a daskmix model file ({what}); models are written by "
        "estimator.save(path) or `daskmix fit`. Pass the path of one."
    )


def damaged(source, detail):
    """The error for a daskmix model file that is truncated or corrupted.

    Parameters
    ----------
    source : str
        The path.
    detail : str
        What is wrong, for the message.

    Returns
    -------
    ModelFileError
    """
    return ModelFileError(
        f"{source} is a damaged daskmix model file, truncated or corrupted: {detail}. "
        "Save the model again from the fitted estimator (or rerun `daskmix fit`), or "
        "restore the file from a copy."
    )


def looks_like(path):
    """What the file at ``path`` looks like, from its first bytes.

    Parameters
    ----------
    path : str
        An existing regular file.

    Returns
    -------
    str
        For messages: "an empty file", "a NumPy .npy array", "a text file
        starting 'a,b,c'", ...
    """
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        return "an empty file: if it held a model, its save was cut off"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        first = text.splitlines()[0] if text.strip() else ""
        if len(first) > 40:
            first = first[:40] + "..."
        return f"a text file starting {first!r}"
    return "no netCDF-4 (HDF5) signature at its start"


def mentions(path, markers=MODEL_MARKERS, block=1 << 20):
    """Whether the file at ``path`` holds one of ``markers`` anywhere.

    Reads the file once, in blocks; used only after a read failed, to tell a
    damaged model file from something else.

    Parameters
    ----------
    path : str
    markers : tuple of bytes, default=MODEL_MARKERS
    block : int, default=1 MiB
        Bytes read at a time.

    Returns
    -------
    bool
    """
    overlap = max(len(marker) for marker in markers) - 1
    tail = b""
    try:
        with open(path, "rb") as f:
            while chunk := f.read(block):
                window = tail + chunk
                if any(marker in window for marker in markers):
                    return True
                tail = window[-overlap:]
    except OSError:
        return False
    return False


def store_mentions(path):
    """Whether the root metadata of the zarr store at ``path`` names a daskmix model.

    Parameters
    ----------
    path : str

    Returns
    -------
    bool
    """
    return mentions(os.path.join(path, "zarr.json"))
