"""Model Datasets on disk: netCDF-4 files (h5netcdf) or zarr directories.

A path ending in ``.zarr``, or naming an existing directory, is a zarr store
(format 3); any other path is a netCDF-4 file. Writes are atomic (see
``daskmix._atomic``). Reads load the whole (small) Dataset and close the
file. Before xarray opens a zarr store, every array's codecs are checked
against a short list of compressors and byte codecs: a store with a codec
that could run code (numcodecs' ``pickle``, say) is refused, not opened.

Before either library parses a byte, the digests of
:mod:`daskmix._model_io._integrity` are checked (a header block in front of a
netCDF file, a ``store_digest`` attribute of a zarr store), so damage is
caught by daskmix rather than met by HDF5 or zarr.

Every failure of the storage libraries while reading becomes a
:class:`~daskmix.exceptions.ModelFileError` (the library's error is its
``__cause__``), worded by :mod:`daskmix._model_io._messages`: "damaged" when
the bytes name a daskmix model, "not a daskmix model file" when they do not.
"""

from __future__ import annotations

import json
import os
import warnings

from daskmix._atomic import replacing
from daskmix._model_io._dataset import dataset_checksum
from daskmix._model_io._integrity import (
    FRAME_MAGIC,
    FRAME_SIZE,
    STORE_DIGEST,
    check_frame,
    frame,
    store_digest,
)
from daskmix._model_io._messages import (
    HDF5_SIGNATURE,
    damaged,
    looks_like,
    mentions,
    not_a_model,
    store_mentions,
)
from daskmix.exceptions import ModelFileError

__all__ = ["is_zarr_path", "read_dataset", "write_dataset"]

#: zarr (format 3) codecs a model store may use: none of them runs code.
_SAFE_ZARR_CODECS = frozenset({
    "bytes", "transpose", "crc32c", "zstd", "blosc", "gzip", "vlen-utf8", "vlen-bytes",
})


def is_zarr_path(path):
    """Whether ``path`` means a zarr store rather than a netCDF file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bool
    """
    path = os.fspath(path).rstrip("/\\")
    return path.endswith(".zarr") or os.path.isdir(path)


def _is_zarr_store(path):
    """Whether the directory ``path`` is a zarr store (format 2 or 3).

    Parameters
    ----------
    path : str

    Returns
    -------
    bool
    """
    return any(os.path.exists(os.path.join(path, name)) for name in ("zarr.json", ".zgroup"))


def _netcdf_encoding(dataset):
    """No fill values: stored numbers come back exactly as written.

    Parameters
    ----------
    dataset : xarray.Dataset

    Returns
    -------
    dict
        ``to_netcdf``'s ``encoding`` for every numeric variable.
    """
    return {
        name: {"_FillValue": None}
        for name in dataset.variables
        if dataset[name].dtype.kind in "biufmM"
    }


def _require_zarr(action):
    """Import zarr (3 or later: model stores are zarr format 3) or raise naming the fix.

    Parameters
    ----------
    action : str
        "save to" or "load".
    """
    try:
        import zarr
    except ImportError:
        zarr = None
    if zarr is None or int(zarr.__version__.split(".")[0]) < 3:
        raise ImportError(
            f"To {action} a zarr model store daskmix needs zarr 3 or later: python -m pip "
            "install -U 'zarr>=3'. Or use a netCDF file path (model.nc), which needs "
            "nothing more."
        ) from None


def write_dataset(dataset, path):
    """Write a model Dataset atomically.

    Parameters
    ----------
    dataset : xarray.Dataset
    path : str or os.PathLike

    Raises
    ------
    ValueError
        If ``path`` is an existing directory that is not a zarr store (it
        is never replaced).
    """
    path = os.fspath(path)
    if not is_zarr_path(path):
        payload = dataset.to_netcdf(None, engine="h5netcdf", encoding=_netcdf_encoding(dataset))
        with replacing(path) as tmp:
            _write_framed(tmp, payload)
        return
    if os.path.isdir(path) and not _is_zarr_store(path):
        raise ValueError(
            f"{path} is a directory that is not a zarr store; daskmix will not replace "
            "it. Pass a file path inside it (e.g. models/model.nc) or a new path "
            "ending in .zarr."
        )
    _require_zarr("save to")
    with replacing(path, directory=True) as tmp:
        dataset.to_zarr(tmp, mode="w-", consolidated=False, zarr_format=3)
        _seal_store(tmp, dataset)


def _seal_store(path, dataset):
    """Add the digest of the store's files to its root attributes, and checksum them again.

    Parameters
    ----------
    path : str
        The zarr store just written from ``dataset``.
    dataset : xarray.Dataset
        The model Dataset.
    """
    import zarr

    attrs = dict(dataset.attrs, **{STORE_DIGEST: store_digest(path)})
    attrs["checksum"] = dataset_checksum(dataset.assign_attrs(attrs))
    zarr.open_group(path, mode="r+", zarr_format=3).attrs.update(
        {STORE_DIGEST: attrs[STORE_DIGEST], "checksum": attrs["checksum"]}
    )


def _check_store_digest(path):
    """Raise if the files of a sealed zarr model store do not match its digest.

    Parameters
    ----------
    path : str
        A zarr store directory with a zarr.json.

    Raises
    ------
    ModelFileError
    """
    try:
        with open(os.path.join(path, "zarr.json"), "rb") as f:
            attrs = json.loads(f.read().decode("utf-8")).get("attributes")
    except (OSError, ValueError, AttributeError):
        return  # unreadable metadata: the codec check names it
    stated = attrs.get(STORE_DIGEST) if isinstance(attrs, dict) else None
    if stated is None:
        return  # a store written before the digest existed
    if stated != store_digest(path):
        raise damaged(path, "its files do not match the digest in its zarr.json "
                            f"({STORE_DIGEST})")


def _write_framed(path, payload):
    """Write the netCDF-4 bytes ``payload`` to ``path`` after their checking block.

    Parameters
    ----------
    path : str
    payload : bytes-like
    """
    with open(path, "wb") as f:
        f.write(frame(payload))
        f.write(payload)


def _check_zarr_codecs(path, is_model):
    """Refuse a zarr store that is not format 3 or uses a codec outside the safe list.

    Parameters
    ----------
    path : str
        A directory.
    is_model : bool
        Whether the store's root metadata names a daskmix model (then
        unreadable metadata means a damaged model, not another kind of store).

    Raises
    ------
    ModelFileError
    """
    for root, _, files in os.walk(path):
        if "zarr.json" not in files:
            continue
        meta_path = os.path.join(root, "zarr.json")
        try:
            with open(meta_path, "rb") as f:
                meta = json.loads(f.read().decode("utf-8"))
            if not isinstance(meta, dict):
                raise ValueError(f"a JSON {type(meta).__name__}, not an object")
            codecs = meta.get("codecs", [])
            if not isinstance(codecs, list):
                raise ValueError(f"its codecs are a {type(codecs).__name__}, not a list")
        except (OSError, ValueError) as exc:
            detail = f"{os.path.relpath(meta_path, path)} cannot be read ({exc})"
            if is_model:
                raise damaged(path, detail) from exc
            raise _unrecognised(path, "zarr store", detail) from exc
        names = {codec.get("name") for codec in codecs if isinstance(codec, dict)}
        unsafe = names - _SAFE_ZARR_CODECS
        if unsafe:
            raise ModelFileError(
                f"{path} uses the zarr codecs {sorted(unsafe, key=str)} in "
                f"{os.path.relpath(meta_path, path)}, which a daskmix model never uses: it "
                "is damaged, or was not written by daskmix. It is refused, not opened (a "
                "codec such as pickle could run code); save the model again, or restore "
                "it from a copy."
            )


def _unrecognised(path, what, detail):
    """The error for a file the storage cannot read and that shows no model header.

    Parameters
    ----------
    path : str
    what : str
        "netCDF-4 file" or "zarr store".
    detail : str
        The storage's complaint.

    Returns
    -------
    ModelFileError
    """
    return ModelFileError(
        f"{path} cannot be read as a {what} ({detail}) and shows no daskmix model "
        "header: it is not a daskmix model file, or one truncated or corrupted beyond "
        "recognition. Models are written by estimator.save(path) or `daskmix fit`; "
        "save the model again, or restore the file from a copy."
    )


def _zarr_store_kind(path):
    """Refuse a path that is not a zarr format 3 store, saying what it is instead.

    Parameters
    ----------
    path : str
        An existing path read as a zarr store.

    Raises
    ------
    ModelFileError
    """
    if not os.path.isdir(path):
        raise not_a_model(path, f"a file, not a zarr store directory: {looks_like(path)}")
    if os.path.exists(os.path.join(path, "zarr.json")):
        return
    if any(os.path.exists(os.path.join(path, name)) for name in (".zgroup", ".zarray")):
        raise not_a_model(path, "a zarr format 2 store; daskmix models are zarr format 3")
    raise not_a_model(path, "a directory with no zarr.json, so not a zarr format 3 store")


def _check_hdf5_root(path):
    """Open the HDF5 file and read its root attributes, then close it.

    h5netcdf leaves a half-built object behind (and prints an ignored
    exception when it is collected) if the file fails this early, so the
    failure is met here first.

    Parameters
    ----------
    path : str
    """
    import h5py

    with h5py.File(path, "r") as f:
        for name in f.attrs:
            f.attrs[name]


def _open_netcdf(path):
    """The model Dataset of the netCDF-4 file at ``path``, loaded.

    Parameters
    ----------
    path : str

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    ModelFileError
    """
    import xarray as xr

    with open(path, "rb") as f:
        head = f.read(FRAME_SIZE)
    if head[:len(FRAME_MAGIC)] == FRAME_MAGIC[:len(head)] and head:
        problem = check_frame(path)
        if problem is not None:
            raise damaged(path, problem)
    elif not head.startswith(HDF5_SIGNATURE):  # a file from before the frame has it first
        if not mentions(path):
            raise not_a_model(path, looks_like(path))
        raise damaged(path, "its header is damaged")
    try:
        _check_hdf5_root(path)
        with xr.open_dataset(path, engine="h5netcdf") as dataset:
            return dataset.load()
    except ImportError:
        raise
    except Exception as exc:  # every failure of h5py, h5netcdf or xarray on a bad file
        detail = f"{type(exc).__name__}: {exc}"
        if mentions(path):
            raise damaged(path, detail) from exc
        raise _unrecognised(path, "netCDF-4 file", detail) from exc


def _open_zarr(path):
    """The model Dataset of the zarr store at ``path``, loaded.

    Parameters
    ----------
    path : str

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    ModelFileError
    """
    import xarray as xr

    _zarr_store_kind(path)
    is_model = store_mentions(path)
    _check_store_digest(path)
    _check_zarr_codecs(path, is_model)
    _require_zarr("load")
    try:
        with warnings.catch_warnings():
            # zarr warns about the nodes of a damaged store before failing on it;
            # the error (or, for an intact store, the checksum) is what counts
            warnings.simplefilter("ignore")
            with xr.open_dataset(path, engine="zarr", consolidated=False,
                                 chunks=None) as dataset:
                return dataset.load()
    except ImportError:
        raise
    except Exception as exc:  # every failure of zarr, its codecs or xarray on a bad store
        detail = f"{type(exc).__name__}: {exc}"
        if is_model:
            raise damaged(path, detail) from exc
        raise _unrecognised(path, "zarr store", detail) from exc


def read_dataset(path):
    """Read a model Dataset into memory.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    xarray.Dataset
        Loaded; the file is closed.

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    ModelFileError
        If ``path`` is not a netCDF-4 file or zarr store that names a daskmix
        model (the message says what it is instead), or if the file shows a
        model's header but cannot be read (truncated or corrupted). Every
        error of the storage libraries is one of these, with the library's
        own error as ``__cause__``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path}. Check the path, or save one first.")
    return _open_zarr(path) if is_zarr_path(path) else _open_netcdf(path)
