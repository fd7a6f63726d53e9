"""Estimator state: kept intact when a fit fails, and saved to model files.

The estimator side of model files: :class:`SaveMixin` gives every estimator
``save``, and :data:`INPUT_FIELDS` declares what every estimator records
about its input. Each estimator's own fields are declared in a
``_model_file`` module beside it.
"""

from __future__ import annotations

import contextlib

from daskmix._model_io import Coordinate, LabelledAxis, Value, save_model

__all__ = ["INPUT_FIELDS", "SaveMixin", "unchanged_on_error"]

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

    def save(self, path):
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
        """
        save_model(self, path)
