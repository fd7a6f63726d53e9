"""Estimator state: kept intact when a fit fails, and saved to model files.

The estimator side of model files: :class:`SaveMixin` gives every estimator
``save``, and :data:`INPUT_FIELDS` declares what every estimator records
about its input. Each estimator's own fields are declared in a
``_model_file`` module beside it.
"""

from __future__ import annotations

import contextlib

from daskmix._dask.components import from_blocks
from daskmix._model_io import Coordinate, LabelledAxis, Value, save_model
from daskmix._model_io import load as _load

__all__ = ["INPUT_FIELDS", "SaveMixin", "load", "unchanged_on_error"]

#: The model-file fields of what ``daskmix._validation`` records about the
#: input of ``fit``: the number of features, their names (pandas input) and
#: the feature dimension of xarray input.
INPUT_FIELDS = (
    Value("n_features_in_"),
    Coordinate("feature_names_in_", "feature"),
    LabelledAxis("_xarray_features"),
)


@contextlib.contextmanager
def unchanged_on_error(estimator):
    """Restore ``estimator``'s attributes if the body raises.

    ``fit`` and ``partial_fit`` run inside it, so an error (bad input found
    after the first pass, an interrupted computation, a keyboard interrupt)
    leaves the estimator exactly as it was before the call.

    Parameters
    ----------
    estimator : object

    Yields
    ------
    None
    """
    snapshot = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(snapshot)
        raise


class SaveMixin:
    """``save(path)`` for every daskmix estimator (model files, no pickle)."""

    def save(self, path, *, shards=None):
        """Save the fitted model to ``path``; :func:`daskmix.load` reads it back.

        The file holds the parameters, the fitted attributes and the state
        ``partial_fit`` continues from, as an xarray Dataset with named
        dimensions (``component``, ``feature``, ...), and no pickle: loading
        it runs no code. Parameters that only change how a fit is shown or
        scheduled (``progress``, ``verbose``, ``split_every``, ...) are not
        saved: a loaded model has their defaults. The write is atomic: a save that fails or is killed
        leaves any previous file at ``path`` intact.

        Parameters
        ----------
        path : str or os.PathLike
            A netCDF-4 file (``model.nc``), or a zarr store: a path ending in
            ``.zarr`` (needs the ``io`` extra), or an existing zarr directory.
        shards : int or None, default=None
            Mixtures only: write a *sharded* zarr store (``path`` must end in
            ``.zarr``) whose per-component arrays (means, covariances,
            precisions and their Cholesky factors, factor loadings) are
            split into ``shards`` blocks of components (sizes differing by
            at most one), each written and checked on its own.
            :func:`daskmix.load` opens such a store lazily, and the loaded
            model predicts block by block. None (the default) writes an
            ordinary model file.
        """
        save_model(self, path, shards=shards)


def load(path, *, lazy=None):
    """Load a model saved by ``estimator.save(path)``.

    Reading a model file runs no code from it (there is no pickle in it),
    so a file from an untrusted source can at worst fail to load.

    Parameters
    ----------
    path : str or os.PathLike
        A netCDF file, or a zarr store (a directory).
    lazy : bool or None, default=None
        For a sharded store (``save(path, shards=P)``): True keeps its
        per-component arrays on disk, as dask arrays with one chunk per
        block, each block read (and its digest checked) by the task that
        needs it; ``predict``, ``predict_proba``, ``score_samples`` and
        ``score`` then run block by block, and no task or client holds the
        whole model. False reads every block into memory, giving an
        ordinary model. None (the default) is True for a sharded store.
        Ordinary model files are always read into memory.

    Returns
    -------
    GaussianMixture, BayesianGaussianMixture, MiniBatchKMeans or IncrementalPCA
        Fitted.

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    daskmix.exceptions.ModelFileError
        If ``path`` is not a daskmix model file (the message says what it
        looks like instead), if it is a damaged one (truncated or corrupted:
        every byte of a model file is covered by a check, so damage never
        loads as a different model), if it is a sharded store that was
        never finalized or has a missing block, or if it is of a newer
        format version. A damaged block of a lazily loaded store is found
        when a computation reads it, and raises this error there. Errors of
        the storage libraries are its ``__cause__``.

    See Also
    --------
    GaussianMixture.save, MiniBatchKMeans.save, IncrementalPCA.save

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import daskmix
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]], dtype=float)
    >>> gm = daskmix.GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.nc")
    >>> gm.save(path)
    >>> loaded = daskmix.load(path)
    >>> bool((loaded.predict(X) == gm.predict(X)).all())
    True
    """
    return _load(path, lazy=lazy, lazy_array=from_blocks)
