"""Estimator state: kept intact when a fit fails, and saved to model files."""

from __future__ import annotations

import contextlib

__all__ = ["SaveMixin", "unchanged_on_error"]


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
        it runs no code. The write is atomic: a save that fails or is killed
        leaves any previous file at ``path`` intact.

        Parameters
        ----------
        path : str or os.PathLike
            A netCDF-4 file (``model.nc``), or a zarr store: a path ending in
            ``.zarr`` (needs the ``io`` extra), or an existing zarr directory.
        """
        # imported here: daskmix._model_io imports the estimator classes
        from daskmix._model_io import save_model

        save_model(self, path)
