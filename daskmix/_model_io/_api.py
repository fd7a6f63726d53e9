"""``estimator.save(path)`` and ``daskmix.load(path)``."""

from __future__ import annotations

import os

import numpy as np
from sklearn.utils.validation import check_is_fitted

from daskmix._model_io._dataset import ModelReader, ModelWriter, check_header
from daskmix._model_io._messages import damaged
from daskmix._model_io._schema import model_class, registered_names, schema_of
from daskmix._model_io._sharded import (
    is_sharded_store,
    open_store,
    read_block,
    save_sharded,
)
from daskmix._model_io._storage import read_dataset, write_dataset
from daskmix.exceptions import ModelFileError

__all__ = ["load", "model_from_dataset", "model_to_dataset", "save_model"]


def model_to_dataset(estimator):
    """A fitted estimator as a model ``xarray.Dataset``.

    Parameters
    ----------
    estimator : BaseEstimator
        Fitted, of a class registered with :func:`register_model`
        (``GaussianMixture``, ``MiniBatchKMeans``, ``IncrementalPCA``).

    Returns
    -------
    xarray.Dataset
        Fitted arrays as variables over named dimensions; the parameters,
        fitted scalars, format version and a checksum as attributes.

    Raises
    ------
    TypeError
        If the estimator's class is not registered (a subclass of a
        registered class included: its extra state would be lost).
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If a parameter cannot be stored (a callable or a random generator).
    """
    schema = schema_of(estimator)
    check_is_fitted(estimator)
    writer = ModelWriter(type(estimator).__name__,
                         schema.stored_parameters(estimator.get_params(deep=False)))
    schema.write(estimator, writer)
    return writer.dataset()


def model_from_dataset(dataset, source="<dataset>", sharded=None):
    """The estimator held by a model Dataset.

    Parameters
    ----------
    dataset : xarray.Dataset
        As :func:`model_to_dataset` made it, loaded in memory.
    source : str, default="<dataset>"
        Where it came from, for messages.
    sharded : dict of str to (tuple of str, array), default=None
        The per-component arrays of a sharded store, read apart from
        ``dataset`` (see ``ModelReader``).

    Returns
    -------
    BaseEstimator
        Fitted, of the registered class the Dataset names.

    Raises
    ------
    ModelFileError
        If the Dataset is not a daskmix model of a readable version, or its
        content is damaged or inconsistent.
    """
    check_header(dataset.attrs, source)
    try:
        return _build(dataset, source, sharded)
    except ModelFileError:
        raise
    except Exception as exc:  # content that passed the checksum yet does not decode
        raise damaged(source, f"its content cannot be decoded ({type(exc).__name__}: {exc})"
                      ) from exc


def _build(dataset, source, sharded=None):
    """The estimator of a model Dataset whose header was checked.

    Parameters
    ----------
    dataset : xarray.Dataset
    source : str
    sharded : dict or None

    Returns
    -------
    BaseEstimator

    Raises
    ------
    ModelFileError
    """
    reader = ModelReader(dataset, source, sharded)
    registered = model_class(reader.estimator_name)
    if registered is None:
        raise ModelFileError(
            f"{source} holds a {reader.estimator_name!r}, which this daskmix cannot "
            f"load (it loads {', '.join(registered_names())}). Upgrade daskmix."
        )
    cls, schema = registered
    known = cls().get_params(deep=False)
    unknown = sorted(set(reader.params) - set(known))
    if unknown:
        raise ModelFileError(
            f"{source} sets the {cls.__name__} parameters {unknown}, which this "
            "daskmix does not have; the file comes from another daskmix version. "
            "Upgrade daskmix."
        )
    estimator = cls(**schema.loaded_parameters(reader.params))
    try:
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise reader.corrupted(f"its parameters are invalid ({exc})") from None
    schema.read(reader, estimator)
    return estimator


def save_model(estimator, path, shards=None):
    """Write a fitted estimator to ``path``, atomically.

    Parameters
    ----------
    estimator : GaussianMixture, MiniBatchKMeans or IncrementalPCA
        Fitted.
    path : str or os.PathLike
        A netCDF file (any name, ``.nc`` by convention), or a zarr store
        (a path ending in ``.zarr``, or an existing zarr directory).
    shards : int or None, default=None
        Write a sharded zarr store of this many component blocks (see
        :mod:`daskmix._model_io._sharded`); None for an ordinary model file.
    """
    if shards is None:
        write_dataset(model_to_dataset(estimator), path)
    else:
        save_sharded(estimator, path, shards)


def load(path, *, lazy=None, lazy_array=None):
    """Load a model file: the codec behind :func:`daskmix.load` (see it for the errors).

    Parameters
    ----------
    path : str or os.PathLike
        A netCDF file, or a zarr store (a directory).
    lazy : bool or None, default=None
        For a sharded store (``save(path, shards=P)``): whether its
        per-component arrays stay on disk, read block by block when a
        computation needs them (None means True when ``lazy_array`` is
        given). An ordinary model file is always read into memory.
    lazy_array : callable or None, default=None
        ``lazy_array(layout, name, read_block)``, the lazy array of one
        per-component array (``daskmix.load`` passes a dask array maker, as
        this package imports no dask); None reads the blocks into memory.

    Returns
    -------
    object
        The fitted estimator of the registered class the file names.

    Raises
    ------
    FileNotFoundError
    daskmix.exceptions.ModelFileError
    """
    source = os.fspath(path)
    if is_sharded_store(source):
        dataset, layout = open_store(source)
        if lazy is None:
            lazy = lazy_array is not None
        if lazy:
            if lazy_array is None:
                raise ValueError("lazy loading needs lazy_array; pass lazy=False.")
            arrays = {name: lazy_array(layout, name, read_block)
                      for name in layout.variables}
        else:
            arrays = {name: np.concatenate([read_block(layout, name, b)
                                            for b in range(len(layout.blocks))])
                      for name in layout.variables}
        sharded = {name: (layout.variables[name][0], values) for name, values in arrays.items()}
        return model_from_dataset(dataset, source=source, sharded=sharded)
    return model_from_dataset(read_dataset(path), source=source)
