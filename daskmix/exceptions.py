"""Exceptions and warnings that daskmix raises, for users to catch or filter.

Every class users may need in an ``except`` clause or a warnings filter lives
here, under one public path::

    from daskmix.exceptions import ModelFileError, LostDataError

This module imports nothing else from daskmix, so every layer can raise these.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import ConvergenceWarning

__all__ = [
    "ConvergenceWarning",
    "DegenerateComponentWarning",
    "IllDefinedCovarianceError",
    "LostDataError",
    "ModelFileError",
    "NoClientError",
    "WorkerLostError",
]

_ILL_DEFINED_MESSAGE = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed "
    "samples). Try to decrease the number of components, increase reg_covar, "
    "or scale the input data."
)


class ModelFileError(ValueError):
    """A model file that cannot be read: damaged, of a newer version, or not a model at all.

    Damaged means truncated or corrupted; "not a model" means the path holds
    something else (a NumPy array, a CSV, a netCDF file of data, a
    directory). The message says which, and what to do.
    """


class LostDataError(RuntimeError):
    """Data a fit needs was lost with a worker and cannot be recomputed.

    Raised when the ``distributed`` scheduler cancels a computation because
    some of its input lived only in a worker's memory (``client.scatter``, or
    a dask array built on such futures) and that worker is gone. Data the
    scheduler can rebuild from a source (a file, a zarr store,
    ``da.from_array``, also after ``X.persist()``) is recomputed on the
    remaining workers instead, and the fit goes on.
    """


class WorkerLostError(LostDataError):
    """A worker holding state that a fit cannot rebuild left the cluster.

    Model-parallel fits (``BayesianGaussianMixture(algorithm="esvi")``)
    keep rows' local distributions and parameter blocks in the workers'
    memory. They recover from the loss of a worker when the data can be
    recomputed and another worker remains; otherwise they stop with this
    error, which names the lost workers.
    """


class NoClientError(RuntimeError):
    """An algorithm that needs a ``distributed`` client found none."""


class IllDefinedCovarianceError(ValueError):
    """A covariance is not positive definite.

    Parameters
    ----------
    components : ndarray of int
        Indices of the components whose covariance failed.
    """

    def __init__(self, components):
        self.components = np.asarray(components, dtype=int)
        super().__init__(_ILL_DEFINED_MESSAGE)


class DegenerateComponentWarning(UserWarning):
    """A component collapsed (no weight, or a singular covariance) and was re-seeded."""
