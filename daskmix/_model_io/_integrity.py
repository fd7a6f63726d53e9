"""Digests of a model's stored bytes, checked before a storage library parses them.

The content checksum (``daskmix._model_io._dataset``) covers what a model
decodes to; the digests here cover the bytes on disk, so damage is caught
before h5py or zarr meet it.

**netCDF: a 512-byte block in front of the file, with a SHA-256 of every byte after it.**

HDF5 ignores a "user block" of 512 bytes before its signature, so a model
file is that block followed by an ordinary netCDF-4 file that h5py, xarray
and netCDF tools read as usual. The block says, in ASCII::

    daskmix-model netCDF-4
    A daskmix model: a netCDF-4 (HDF5) file after this 512-byte block.
    sha256 <64 hex digits>
    bytes <length of the netCDF-4 file>

padded with spaces to 511 bytes and ended by a newline. Loading checks the
block byte for byte and the digest of the rest before HDF5 parses anything:
damage anywhere in the file is caught by this check, never met by the HDF5
library (which can fail on damaged metadata in unpredictable ways, down to
looping forever). Files written before the block existed start with the
HDF5 signature itself and are read as before.

**zarr: the attribute** ``store_digest`` of the root group, a SHA-256 over
the relative path, length and bytes of every other file of the store (the
arrays' metadata and chunks). The root metadata itself is covered by the
content checksum, which includes this attribute. Stores written before it
existed have no such attribute and are read as before.
"""

from __future__ import annotations

import hashlib
import os
import re

__all__ = [
    "FRAME_MAGIC", "FRAME_SIZE", "STORE_DIGEST", "check_frame", "frame", "parse_frame",
    "store_digest",
]

#: The root attribute of a zarr model store that holds :func:`store_digest`.
STORE_DIGEST = "store_digest"

#: The first bytes of every framed model file.
FRAME_MAGIC = b"daskmix-model netCDF-4\n"
#: The length of the block (HDF5 allows user blocks of 512 bytes or a power of 2 above).
FRAME_SIZE = 512
_LINE = b"A daskmix model: a netCDF-4 (HDF5) file after this 512-byte block.\n"
_FIELDS = re.compile(rb"sha256 ([0-9a-f]{64})\nbytes ([1-9][0-9]{0,18})\n")
#: Bytes hashed at a time when checking a file.
_BLOCK = 1 << 20


def frame(payload):
    """The block to write before ``payload``.

    Parameters
    ----------
    payload : bytes-like
        The netCDF-4 file.

    Returns
    -------
    bytes
        :data:`FRAME_SIZE` bytes.
    """
    digest = hashlib.sha256(payload).hexdigest()
    return _block(digest, len(payload))


def _block(digest, size):
    """The block for a payload of ``size`` bytes with SHA-256 ``digest`` (hex).

    Parameters
    ----------
    digest : str
    size : int

    Returns
    -------
    bytes
    """
    text = FRAME_MAGIC + _LINE + f"sha256 {digest}\nbytes {size}\n".encode()
    return text.ljust(FRAME_SIZE - 1, b" ") + b"\n"


def parse_frame(head):
    """The digest and payload length a block states, or None if it is not a valid block.

    Parameters
    ----------
    head : bytes
        The first :data:`FRAME_SIZE` bytes of a file (fewer if it is shorter).

    Returns
    -------
    (str, int) or None
        None unless ``head`` is exactly the block :func:`frame` writes for
        some digest and length.
    """
    start = len(FRAME_MAGIC) + len(_LINE)
    match = _FIELDS.match(head, start)
    if match is None:
        return None
    digest, size = match.group(1).decode(), int(match.group(2))
    return (digest, size) if head == _block(digest, size) else None


def check_frame(path):
    """Check the block of the framed file at ``path`` and the digest of what follows it.

    Parameters
    ----------
    path : str

    Returns
    -------
    str or None
        None if the file is intact, else what is wrong (for a message).
    """
    with open(path, "rb") as f:
        head = f.read(FRAME_SIZE)
        stated = parse_frame(head)
        if stated is None:
            if len(head) < FRAME_SIZE:
                return f"it is {len(head)} bytes long, shorter than its {FRAME_SIZE}-byte header"
            return "its header (the first 512 bytes) is damaged"
        digest, size = stated
        sha, seen = hashlib.sha256(), 0
        while block := f.read(_BLOCK):
            sha.update(block)
            seen += len(block)
    if seen != size:
        return f"it holds {seen} bytes after its header where {size} were written"
    if sha.hexdigest() != digest:
        return "its content does not match the SHA-256 digest in its header"
    return None


def store_digest(path):
    """SHA-256 over every file of the zarr store at ``path`` except its root ``zarr.json``.

    Parameters
    ----------
    path : str
        A zarr store directory.

    Returns
    -------
    str
        ``"sha256:<hex digest>"``.
    """
    files = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in names:
            full = os.path.join(root, name)
            relative = os.path.relpath(full, path).replace(os.sep, "/")
            if relative != "zarr.json":
                files.append((relative, full))
    sha = hashlib.sha256()
    for relative, full in sorted(files):
        with open(full, "rb") as f:
            data = f.read()
        sha.update(f"{relative} {len(data)}\n".encode())
        sha.update(data)
    return "sha256:" + sha.hexdigest()
