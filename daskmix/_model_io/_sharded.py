"""Sharded model stores: zarr stores written block by block, read one block at a time.

A model too large for one process (a mixture whose components live in
blocks on different workers) is saved in three steps:

1. :func:`create_store` (once, on the client): a zarr store under a
   temporary name next to the destination, holding the estimator's
   parameters, fitted scalars and small arrays, and, empty, its
   *per-component arrays*: the float arrays of two or more dimensions whose
   first dimension is ``component`` (means, covariances, precisions and
   their Cholesky factors, factor loadings). Their zarr chunks divide every
   block ``[start, stop)`` of components, so blocks never share a chunk.
   One-dimensional per-component arrays (weights, ...) are O(K) and are
   written here with the rest.
2. :func:`write_block` (once per block, anywhere that sees the file system:
   a worker task, say): writes the block's slice of every per-component
   array and returns the SHA-256 digest of the chunk files it wrote, per
   array. Blocks write disjoint files, so separate processes can write them
   at the same time.
3. :func:`finalize_store` (once, on the client, with every block's
   digests): stores the digests and the layout in the root attributes with
   a digest of the other files and the content checksum, then moves the
   store to its path. Only then does a model exist at the path: a save
   that fails or is killed before leaves at most a hidden ``.*.tmp``
   directory, which loads as an unfinished store.

No step holds more than one block of the model.

Layout (root attribute ``sharded``, JSON)::

    {"blocks": [[start, stop], ...], "chunk": components per zarr chunk,
     "variables": {name: {"dims": [...], "shape": [...], "dtype": str}},
     "digests": [{name: "sha256:...", ...} per block]}   # after finalize

The root attribute ``sharded_store_digest`` is a SHA-256 over every file
but the root metadata and the per-component arrays' chunk files; the
``checksum`` covers the attributes (so the block digests) and the small
arrays, as in every model file. The format version is 2
(:data:`~daskmix._model_io._dataset.SHARDED_VERSION`): an older daskmix
refuses such a store as too new rather than misreading it.

Reading: :func:`open_store` checks the layout, that the store was
finalized, the digest of the small files and the checksum, and that every
block's chunk files are present; :func:`read_block` reads one block of one
array after checking its digest. A damaged block is thus found when it is
read, never used.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass
from functools import reduce

import numpy as np

from daskmix._atomic import install_directory, temporary_name
from daskmix._model_io._dataset import (
    SHARDED_VERSION,
    ModelWriter,
    check_header,
    dataset_checksum,
)
from daskmix._model_io._messages import damaged
from daskmix._model_io._schema import schema_of
from daskmix._model_io._storage import (
    _check_zarr_codecs,
    _require_zarr,
    _zarr_store_kind,
    is_zarr_path,
)
from daskmix.exceptions import ModelFileError

__all__ = [
    "SHARDED", "SHARDED_DIGEST", "ShardedStore", "abort_store", "check_store_path",
    "component_blocks", "create_store", "finalize_store", "is_sharded_store", "open_store",
    "piece_ranges", "placeholder", "read_block", "save_sharded", "write_block",
]

#: The root attribute holding the layout and the block digests.
SHARDED = "sharded"
#: The root attribute holding the digest of the files outside the blocks.
SHARDED_DIGEST = "sharded_store_digest"
#: The dimension along which arrays are split into blocks.
COMPONENT = "component"


def component_blocks(n_components, n_blocks):
    """``n_blocks`` contiguous blocks of components, sizes differing by at most one.

    Parameters
    ----------
    n_components : int
    n_blocks : int
        Between 1 and ``n_components``.

    Returns
    -------
    tuple of (int, int)
        ``(start, stop)`` of each block, in order, covering ``range(n_components)``.

    Raises
    ------
    ValueError
        If ``n_blocks`` is not between 1 and ``n_components``.
    """
    n_components, n_blocks = int(n_components), int(n_blocks)
    if not 1 <= n_blocks <= n_components:
        raise ValueError(
            f"shards must be between 1 and n_components={n_components}, got {n_blocks}."
        )
    size, extra = divmod(n_components, n_blocks)
    stops = np.cumsum([size + (b < extra) for b in range(n_blocks)])
    bounds = np.concatenate([[0], stops])
    return tuple((int(a), int(b)) for a, b in itertools.pairwise(bounds))


def placeholder(shape, dtype=np.float64):
    """An array of ``shape`` and ``dtype`` that takes no memory (all zeros, read-only).

    Set as a per-component attribute of an estimator whose blocks live
    elsewhere, before :func:`create_store`: only its shape and dtype are used.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype, default=float64

    Returns
    -------
    ndarray
    """
    return np.broadcast_to(np.zeros((), dtype=dtype), tuple(shape))


@dataclass(frozen=True)
class ShardedStore:
    """A sharded model store being written: what block writers need (picklable).

    Attributes
    ----------
    path : str
        Where the model goes once finalized.
    tmp : str
        Where it is written until then.
    blocks : tuple of (int, int)
    chunk : int
        Components per zarr chunk (divides every block's size).
    variables : dict of str to tuple
        The per-component arrays: ``{name: (dims, shape, dtype str)}``.
    """

    path: str
    tmp: str
    blocks: tuple
    chunk: int
    variables: dict

    def __reduce__(self):
        return (ShardedStore, (self.path, self.tmp, self.blocks, self.chunk,
                               dict(self.variables)))


def _is_sharded_variable(dims, values):
    return (len(dims) >= 2 and dims[0] == COMPONENT and values.dtype.kind == "f")


def _check_blocks(blocks, n_components):
    blocks = tuple((int(a), int(b)) for a, b in blocks)
    starts = [a for a, _ in blocks]
    stops = [b for _, b in blocks]
    if (not blocks or starts[0] != 0 or stops[-1] != n_components
            or any(b <= a for a, b in blocks) or starts[1:] != stops[:-1]):
        raise ValueError(
            f"blocks must be contiguous, non-empty and cover the {n_components} "
            f"components in order, got {list(blocks)}."
        )
    return blocks


def create_store(estimator, path, blocks):
    """Start a sharded store: everything but the per-component arrays' blocks.

    Parameters
    ----------
    estimator : GaussianMixture or BayesianGaussianMixture
        Fitted; its per-component arrays may be :func:`placeholder`s (only
        their shapes and dtypes are read here).
    path : str or os.PathLike
        The store's final path (ending in ``.zarr``, or an existing zarr
        store, which :func:`finalize_store` replaces).
    blocks : sequence of (int, int)
        Contiguous ``(start, stop)`` component blocks (:func:`component_blocks`).

    Returns
    -------
    ShardedStore
        Pass it to :func:`write_block` for every block, then to
        :func:`finalize_store`.

    Raises
    ------
    ValueError
        If ``path`` is not a zarr path, or the blocks do not cover the components.
    """
    return _create(_writer_of(estimator), path, blocks)


def _writer_of(estimator):
    """The fitted state of ``estimator`` in a ``ModelWriter`` (its arrays are not copied)."""
    from sklearn.utils.validation import check_is_fitted

    schema = schema_of(estimator)
    check_is_fitted(estimator)
    writer = ModelWriter(type(estimator).__name__,
                         schema.stored_parameters(estimator.get_params(deep=False)))
    schema.write(estimator, writer)
    return writer


def check_store_path(path):
    """Raise unless a sharded store can be written at ``path``; return it absolute.

    The rules of :func:`create_store`, checked before any work: a path
    ending in ``.zarr`` (or an existing zarr store, which the finished
    store replaces), in an existing writable directory, not an existing
    file or a directory that is not a zarr store, and zarr installed.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Saying what is wrong with ``path``.
    ImportError
        If zarr is not installed.
    """
    path = os.path.abspath(os.fspath(path))
    if not is_zarr_path(path):
        raise ValueError(
            f"A sharded model is a zarr store: pass a path ending in .zarr, not {path}."
        )
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "zarr.json")):
        raise ValueError(
            f"{path} is a directory that is not a zarr store; daskmix will not replace it."
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path} is a file, not a zarr store; daskmix will not replace it.")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ValueError(f"The directory of {path} does not exist; create it first.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"The directory of {path} is not writable.")
    _require_zarr("save to")
    return path


def _create(writer, path, blocks):
    """:func:`create_store` from the estimator's ``ModelWriter``."""
    import xarray as xr
    import zarr

    path = check_store_path(path)
    sharded = {name: (dims, values) for name, (dims, values) in writer.variables.items()
               if _is_sharded_variable(dims, values)}
    if not sharded:
        raise ValueError(f"A {writer.estimator_name} has no per-component arrays to shard.")
    n_components = next(iter(sharded.values()))[1].shape[0]
    blocks = _check_blocks(blocks, n_components)
    chunk = reduce(math.gcd, (b - a for a, b in blocks))
    variables = {name: (tuple(dims), tuple(values.shape), values.dtype.str)
                 for name, (dims, values) in sharded.items()}
    attrs = dict(writer.header(), daskmix_format_version=SHARDED_VERSION)
    attrs[SHARDED] = json.dumps(_layout(blocks, chunk, variables), sort_keys=True)
    small = xr.Dataset(
        {name: xr.Variable(dims, values) for name, (dims, values) in writer.variables.items()
         if name not in sharded},
        coords={dim: xr.Variable((dim,), values) for dim, values in writer.coords.items()},
        attrs=attrs,
    )
    tmp = temporary_name(path)
    try:
        small.to_zarr(tmp, mode="w-", consolidated=False, zarr_format=3)
        group = zarr.open_group(tmp, mode="r+", zarr_format=3)
        for name, (dims, shape, dtype) in variables.items():
            group.create_array(
                name, shape=shape, dtype=np.dtype(dtype), chunks=(chunk,) + shape[1:],
                compressors=None, fill_value=np.nan, dimension_names=list(dims),
            )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ShardedStore(path, tmp, blocks, chunk, variables)


def _layout(blocks, chunk, variables, digests=None):
    layout = {
        "blocks": [list(b) for b in blocks], "chunk": int(chunk),
        "variables": {name: {"dims": list(dims), "shape": list(shape), "dtype": dtype}
                      for name, (dims, shape, dtype) in variables.items()},
    }
    if digests is not None:
        layout["digests"] = [dict(sorted(d.items())) for d in digests]
    return layout


def _block_files(root, name, start, stop, chunk):
    """The chunk files of components ``[start, stop)`` of the array ``name``.

    Returns
    -------
    list of (str, str)
        ``(path relative to the store, full path)``, in chunk order (each
        chunk's files sorted).
    missing : list of int
        Chunk indices with no file.
    """
    files, missing = [], []
    for index in range(start // chunk, stop // chunk):
        top = os.path.join(root, name, "c", str(index))
        if os.path.isfile(top):
            files.append(top)
        elif os.path.isdir(top):
            found = []
            for sub, _, names in os.walk(top):
                found.extend(os.path.join(sub, n) for n in names)
            files.extend(sorted(found))
        else:
            missing.append(index)
    return [(os.path.relpath(f, root).replace(os.sep, "/"), f) for f in files], missing


#: Bytes hashed at a time: a block's digest never holds its files in memory.
_HASH_BYTES = 1 << 22


def _digest(files):
    sha = hashlib.sha256()
    for relative, full in files:
        sha.update(f"{relative} {os.path.getsize(full)}\n".encode())
        with open(full, "rb") as f:
            while data := f.read(_HASH_BYTES):
                sha.update(data)
    return "sha256:" + sha.hexdigest()


def piece_ranges(store, index, most):
    """Ranges ``(a, b)`` of block ``index``'s components (from its start) to write a piece at a time.

    Each piece has at most ``most`` components (at least one zarr chunk)
    and starts on a chunk boundary, so pieces write disjoint chunk files.

    Parameters
    ----------
    store : ShardedStore
    index : int
    most : int

    Returns
    -------
    list of (int, int)
    """
    start, stop = store.blocks[index]
    size = max(store.chunk, int(most) // store.chunk * store.chunk)
    return [(a, min(a + size, stop - start)) for a in range(0, stop - start, size)]


def write_block(store, index, arrays):
    """Write block ``index`` of every per-component array; return their digests.

    Runs anywhere the store's temporary directory is reachable (a worker
    task); blocks write disjoint chunk files.

    Parameters
    ----------
    store : ShardedStore
    index : int
        The block.
    arrays : dict of str to ndarray, or iterable of (int, dict of str to ndarray)
        For every per-component array, its rows ``start:stop`` (the block's
        components); or *pieces* ``(a, arrays)``, in order and covering the
        block, each holding rows ``start + a`` onwards of every array, so
        that a writer can make and hold one piece at a time (a generator;
        :func:`piece_ranges` gives ranges on chunk boundaries).

    Returns
    -------
    dict of str to str
        The SHA-256 digest of each array's chunk files of this block.

    Raises
    ------
    ValueError
        If an array is missing, extra, or of the wrong shape, or the pieces
        do not cover the block in order.
    """
    import zarr

    start, stop = store.blocks[index]
    pieces = [(0, arrays)] if isinstance(arrays, dict) else arrays
    targets = {name: zarr.open_array(os.path.join(store.tmp, name), mode="r+", zarr_format=3,
                                     config={"write_empty_chunks": True})
               for name in store.variables}
    done = 0
    for offset, piece in pieces:
        if set(piece) != set(store.variables):
            raise ValueError(
                f"block {index} needs the arrays {sorted(store.variables)}, got {sorted(piece)}."
            )
        if offset != done:
            raise ValueError(
                f"the pieces of block {index} must cover it in order: expected the piece at "
                f"{done}, got {offset}."
            )
        length = None
        for name, (_, shape, dtype) in store.variables.items():
            values = np.asarray(piece[name], dtype=np.dtype(dtype))
            length = len(values) if length is None else length
            expected = (min(length, stop - start - offset),) + tuple(shape[1:])
            if values.shape != expected or length == 0:
                raise ValueError(
                    f"block {index} of {name} must have shape "
                    f"{(stop - start - offset,) + tuple(shape[1:])} or a piece of it, "
                    f"got {values.shape}."
                )
            targets[name][start + offset:start + offset + length] = values
        done += length
    if done != stop - start:
        raise ValueError(
            f"the pieces of block {index} cover {done} of its {stop - start} components."
        )
    digests = {}
    for name in store.variables:
        files, _ = _block_files(store.tmp, name, start, stop, store.chunk)
        digests[name] = _digest(files)
    return digests


def _small_files_digest(root, variables):
    """SHA-256 over the store's files but the root metadata and the blocks' chunks."""
    files = []
    for sub, dirs, names in os.walk(root):
        relative_dir = os.path.relpath(sub, root).replace(os.sep, "/")
        if relative_dir in variables:  # the blocks' chunks: covered by their own digests
            dirs[:] = [d for d in dirs if d != "c"]
        dirs.sort()
        for name in names:
            full = os.path.join(sub, name)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            if relative != "zarr.json":
                files.append((relative, full))
    return _digest(sorted(files))


def finalize_store(store, digests):
    """Seal the store with every block's digests and move it to its path.

    Parameters
    ----------
    store : ShardedStore
    digests : sequence of dict
        What :func:`write_block` returned for each block, in block order.

    Raises
    ------
    ModelFileError
        If a block's digests are missing (the block was not written): the
        store is then left unfinished at its temporary path.
    """
    import zarr

    digests = list(digests)
    missing = [b for b in range(len(store.blocks))
               if b >= len(digests) or not digests[b]
               or set(digests[b]) != set(store.variables)]
    if missing or len(digests) != len(store.blocks):
        raise ModelFileError(
            f"The sharded model {store.path} cannot be finalized: blocks {missing} were not "
            f"written (got {len(digests)} digests for {len(store.blocks)} blocks). Write every "
            "block with write_block, then finalize."
        )
    group = zarr.open_group(store.tmp, mode="r+", zarr_format=3)
    layout = json.dumps(_layout(store.blocks, store.chunk, store.variables, digests),
                        sort_keys=True)
    group.attrs.update({SHARDED: layout,
                        SHARDED_DIGEST: _small_files_digest(store.tmp, store.variables)})
    small = _open_small(store.tmp, store.variables)
    group.attrs.update({"checksum": dataset_checksum(small)})
    install_directory(store.tmp, store.path)


def abort_store(store):
    """Remove an unfinished store's temporary directory.

    Parameters
    ----------
    store : ShardedStore
    """
    shutil.rmtree(store.tmp, ignore_errors=True)


def save_sharded(estimator, path, n_blocks):
    """Write a fitted in-memory estimator as a sharded store of ``n_blocks`` blocks.

    Every block goes through :func:`write_block`, as a worker's would.

    Parameters
    ----------
    estimator : GaussianMixture or BayesianGaussianMixture
        Fitted.
    path : str or os.PathLike
        Ending in ``.zarr``.
    n_blocks : int
        Between 1 and ``n_components``.
    """
    blocks = component_blocks(estimator.n_components, n_blocks)
    writer = _writer_of(estimator)
    store = _create(writer, path, blocks)
    try:
        digests = [
            write_block(store, b, {name: writer.variables[name][1][start:stop]
                                   for name in store.variables})
            for b, (start, stop) in enumerate(store.blocks)
        ]
        finalize_store(store, digests)
    except BaseException:
        abort_store(store)
        raise


# ---- reading ------------------------------------------------------------------------


def _root_attrs(path):
    try:
        with open(os.path.join(path, "zarr.json"), "rb") as f:
            attrs = json.loads(f.read().decode("utf-8")).get("attributes")
    except (OSError, ValueError, AttributeError):
        return None
    return attrs if isinstance(attrs, dict) else None


def is_sharded_store(path):
    """Whether ``path`` is a zarr store whose root metadata declares a sharded model.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bool
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    attrs = _root_attrs(path)
    return attrs is not None and SHARDED in attrs


def _open_small(path, variables):
    """The store's Dataset without the per-component arrays, loaded."""
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with xr.open_dataset(path, engine="zarr", consolidated=False, chunks=None,
                             drop_variables=list(variables)) as dataset:
            return dataset.load()


@dataclass(frozen=True)
class ShardedLayout:
    """What :func:`open_store` found: the blocks of a finalized sharded store.

    Attributes
    ----------
    path : str
    blocks : tuple of (int, int)
    chunk : int
    variables : dict of str to (tuple of str, tuple of int, str)
        ``{name: (dims, shape, dtype)}``.
    digests : tuple of dict
        Per block, ``{name: digest}``.
    """

    path: str
    blocks: tuple
    chunk: int
    variables: dict
    digests: tuple

    def __dask_tokenize__(self):
        return ("daskmix-sharded-layout", self.path, self.blocks, self.digests)


def _parse_layout(path, text):
    try:
        layout = json.loads(text)
        blocks = tuple((int(a), int(b)) for a, b in layout["blocks"])
        chunk = int(layout["chunk"])
        variables = {str(name): (tuple(str(d) for d in spec["dims"]),
                                 tuple(int(n) for n in spec["shape"]), str(spec["dtype"]))
                     for name, spec in layout["variables"].items()}
        digests = layout.get("digests")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(path, f"its '{SHARDED}' layout attribute cannot be read ({exc})"
                      ) from None
    if digests is None:
        raise ModelFileError(
            f"{path} is a sharded daskmix model store that was never finalized: its blocks "
            "were being written when the save stopped, so it may miss some. Save the model "
            "again (finalize_store is the last step of a sharded save)."
        )
    if (not isinstance(digests, list) or len(digests) != len(blocks)
            or not all(isinstance(d, dict) and set(d) == set(variables) for d in digests)):
        raise damaged(path, f"its '{SHARDED}' layout does not list a digest for every block")
    return ShardedLayout(path, blocks, chunk, variables, tuple(digests))


def _describe(layout, index):
    start, stop = layout.blocks[index]
    return f"block {index} (components {start} to {stop - 1})"


def open_store(path):
    """Check a sharded store and read everything but its blocks.

    Parameters
    ----------
    path : str or os.PathLike
        A store for which :func:`is_sharded_store` is true.

    Returns
    -------
    dataset : xarray.Dataset
        The small arrays and the attributes, loaded; the checksum is checked
        by ``ModelReader``.
    layout : ShardedLayout

    Raises
    ------
    ModelFileError
        If the store was never finalized, its small files or layout are
        damaged, or a block's chunk files are missing.
    """
    path = os.path.abspath(os.fspath(path))
    _zarr_store_kind(path)
    attrs = _root_attrs(path)
    check_header(attrs, path)
    layout = _parse_layout(path, attrs[SHARDED])
    if attrs.get(SHARDED_DIGEST) != _small_files_digest(path, layout.variables):
        raise damaged(path, "its files outside the blocks do not match the digest in its "
                            f"zarr.json ({SHARDED_DIGEST})")
    _check_zarr_codecs(path, True)
    _require_zarr("load")
    for name in layout.variables:
        for index, (start, stop) in enumerate(layout.blocks):
            _, missing = _block_files(path, name, start, stop, layout.chunk)
            if missing:
                raise damaged(path, f"{_describe(layout, index)} of {name!r} is missing (no "
                                    f"chunk files {missing}): it was never written or was "
                                    "deleted")
    try:
        dataset = _open_small(path, layout.variables)
    except Exception as exc:  # every failure of zarr or xarray on a bad store
        raise damaged(path, f"{type(exc).__name__}: {exc}") from exc
    return dataset, layout


def read_block(layout, name, index):
    """Block ``index`` of the per-component array ``name``, after checking its digest.

    Parameters
    ----------
    layout : ShardedLayout
    name : str
    index : int

    Returns
    -------
    ndarray of shape (stop - start, ...)

    Raises
    ------
    ModelFileError
        If the block's chunk files are missing or do not match its digest.
    """
    import zarr

    start, stop = layout.blocks[index]
    files, missing = _block_files(layout.path, name, start, stop, layout.chunk)
    if missing:
        raise damaged(layout.path, f"{_describe(layout, index)} of {name!r} is missing")
    values = _read_plain(layout, name, start, stop, files)
    digest = values[1] if values is not None else _digest(files)
    if digest != layout.digests[index][name]:
        raise damaged(layout.path,
                      f"{_describe(layout, index)} of {name!r} does not match its digest")
    if values is not None:
        return values[0]
    try:
        array = zarr.open_array(os.path.join(layout.path, name), mode="r", zarr_format=3)
        values = np.asarray(array[start:stop])
    except Exception as exc:  # the digest matched, so the metadata is at fault
        raise damaged(layout.path, f"{_describe(layout, index)} of {name!r} cannot be read "
                                   f"({type(exc).__name__}: {exc})") from exc
    _, shape, dtype = layout.variables[name]
    if values.shape != (stop - start,) + shape[1:] or values.dtype != np.dtype(dtype):
        raise damaged(layout.path, f"{_describe(layout, index)} of {name!r} has shape "
                                   f"{values.shape} and dtype {values.dtype}")
    return values


#: The zarr codecs of the per-component arrays :func:`create_store` makes: their
#: chunk files are the chunks' bytes, little-endian, in C order.
_PLAIN_CODECS = [{"name": "bytes", "configuration": {"endian": "little"}}]
_PLAIN_KEYS = {"name": "default", "configuration": {"separator": "/"}}


def _read_plain(layout, name, start, stop, files):
    """A block read straight from its chunk files, hashed as it is read, or None.

    For arrays stored as :func:`create_store` makes them (no compression,
    little-endian bytes, one chunk file per chunk of components): the files
    are read once, into the block's array, and hashed from there, so a read
    holds one copy of the block and reads each byte once. Other arrays
    (None) are read through zarr.

    Returns
    -------
    (ndarray, str) or None
        The block and the digest of its files.
    """
    _, shape, dtype = layout.variables[name]
    try:
        with open(os.path.join(layout.path, name, "zarr.json"), "rb") as f:
            meta = json.loads(f.read().decode("utf-8"))
        plain = (meta.get("codecs") == _PLAIN_CODECS
                 and meta.get("chunk_key_encoding") == _PLAIN_KEYS
                 and meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape")
                 == [layout.chunk, *shape[1:]]
                 and not meta.get("storage_transformers"))
    except (OSError, ValueError, AttributeError):
        return None
    rest = "/0" * (len(shape) - 1)
    expected = [f"{name}/c/{i}{rest}" for i in range(start // layout.chunk, stop // layout.chunk)]
    if not plain or [relative for relative, _ in files] != expected:
        return None
    out = np.empty((stop - start,) + tuple(shape[1:]), dtype=np.dtype(dtype).newbyteorder("<"))
    chunk_bytes = out[:layout.chunk].nbytes
    sha = hashlib.sha256()
    for position, (relative, full) in enumerate(files):
        view = memoryview(out[position * layout.chunk:(position + 1) * layout.chunk]).cast("B")
        size = os.path.getsize(full)
        sha.update(f"{relative} {size}\n".encode())
        if size != chunk_bytes:
            return out, "sha256:size-mismatch"
        with open(full, "rb") as f:
            if f.readinto(view) != chunk_bytes:
                return out, "sha256:short-read"
        sha.update(view)
    return out.astype(np.dtype(dtype), copy=False), "sha256:" + sha.hexdigest()
