"""Model Datasets on disk: netCDF-4 files (h5netcdf) or zarr directories.

A path ending in ``.zarr``, or naming an existing directory, is a zarr store
(format 3); any other path is a netCDF-4 file. Writes are atomic (see
``daskmix._atomic``). Reads load the whole (small) Dataset and close the
file. Before xarray opens a zarr store, every array's codecs are checked
against a short list of compressors and byte codecs: a store with a codec
that could run code (numcodecs' ``pickle``, say) is refused, not opened.
"""

from __future__ import annotations

import json
import os

from daskmix._atomic import replacing
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
        with replacing(path) as tmp:
            dataset.to_netcdf(tmp, engine="h5netcdf", encoding=_netcdf_encoding(dataset))
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


def _check_zarr_codecs(path):
    """Refuse a zarr store that is not format 3 or uses a codec outside the safe list.

    Parameters
    ----------
    path : str

    Raises
    ------
    ModelFileError
    """
    if not os.path.exists(os.path.join(path, "zarr.json")):
        raise ModelFileError(
            f"{path} is not a daskmix model store (no zarr.json: not a zarr format 3 "
            "store). Pass a store written by estimator.save(path)."
        )
    for root, _, files in os.walk(path):
        if "zarr.json" not in files:
            continue
        try:
            with open(os.path.join(root, "zarr.json"), encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise ModelFileError(
                f"{path} is corrupted: {os.path.join(root, 'zarr.json')} cannot be read "
                f"({exc}). Save the model again."
            ) from None
        codecs = {codec.get("name") for codec in meta.get("codecs", []) if isinstance(codec, dict)}
        unsafe = codecs - _SAFE_ZARR_CODECS
        if unsafe:
            raise ModelFileError(
                f"{path} uses the zarr codecs {sorted(unsafe)}, which a daskmix model "
                "never uses; it is refused, not opened (a codec such as pickle could "
                "run code)."
            )


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
        If the file cannot be parsed (truncated, corrupted, another format).
    """
    import xarray as xr

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path}. Check the path, or save one first.")
    if is_zarr_path(path):
        _check_zarr_codecs(path)
        _require_zarr("load")
        kwargs = {"engine": "zarr", "consolidated": False, "chunks": None}
        what = "zarr model store"
    else:
        kwargs = {"engine": "h5netcdf"}
        what = "netCDF model file"
    try:
        with xr.open_dataset(path, **kwargs) as dataset:
            return dataset.load()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"{path} is not a readable {what}: it may be truncated or corrupted "
            f"({type(exc).__name__}: {exc}). Save the model again, or restore the file "
            "from a copy."
        ) from None
