"""What a ``BayesianGaussianMixture`` model file holds.

The fitted attributes over named dimensions, the fitted scalars, and the
priors of the fit. The weight prior decides the shape of
``weight_concentration_`` (a Dirichlet's concentrations, or each stick's
two Beta parameters, published as a tuple and stored as one array over a
``beta_parameter`` dimension); the Wishart family those of
``degrees_of_freedom_`` and ``covariance_prior_`` (scalars for a shared
precision and a spherical prior). The running statistics of stochastic VI
are not stored: a loaded model's ``partial_fit`` restarts them from the
fitted posterior.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from daskmix._model_io import Array, ModelSchema, Value
from daskmix.mixture._dims import shape_dims
from daskmix.mixture._model_file import MIXTURE_FIELDS
from daskmix.mixture.variational import WEIGHT_PRIORS, get_wishart

__all__ = ["BAYESIAN_MIXTURE_FILE"]

_C = ("component",)


def _dof_dims(params):
    """Dimensions of ``degrees_of_freedom_``: ``("component",)``, or none when shared."""
    wishart = get_wishart(params["covariance_type"])
    return shape_dims(lambda k, d: wishart.degrees_of_freedom_shape(k))


def _prior_dims(params):
    """Dimensions of ``covariance_prior_``."""
    wishart = get_wishart(params["covariance_type"])
    return shape_dims(lambda k, d: wishart.prior_shape(d))


def _concentration_dims(params):
    """Dimensions of the stored ``weight_concentration_``."""
    stored = WEIGHT_PRIORS[params["weight_concentration_prior_type"]].posterior(
        np.zeros(2), 1.0)
    return (("beta_parameter",) if stored.ndim == 2 else ()) + _C


def _scalar_kind(dims):
    return "scalar" if not dims else "array"


@dataclass(frozen=True)
class _Shaped:
    """An array whose dimensions, and whose published form, the priors' registries set.

    Attributes
    ----------
    attr : str
    dims : callable
        ``dims(params) -> tuple of str``; no dimension stores a scalar.
    stored : callable or None
        ``stored(value, params) -> ndarray``, the array written; None writes
        the value.
    published : callable or None
        ``published(array, params)``, the attribute read back; None reads
        the array (a NumPy scalar when it has no dimension).
    """

    attr: str
    dims: Callable
    stored: Callable | None = None
    published: Callable | None = None

    def write(self, estimator, writer, params):
        """Store the attribute."""
        value = getattr(estimator, self.attr)
        if self.stored is not None:
            value = self.stored(value, params)
        dims = self.dims(params)
        writer.array(self.attr, value, dims, _scalar_kind(dims))

    def read(self, reader, estimator, params):
        """Set the attribute from the file."""
        value = reader.array(self.attr, self.dims(params))
        if self.published is not None:
            value = self.published(value, params)
        setattr(estimator, self.attr, value)


def _weight_prior(params):
    return WEIGHT_PRIORS[params["weight_concentration_prior_type"]]


#: The model file of :class:`~daskmix.BayesianGaussianMixture`.
BAYESIAN_MIXTURE_FILE = ModelSchema(
    fields=(
        *MIXTURE_FIELDS,
        _Shaped("weight_concentration_", _concentration_dims,
                stored=lambda value, params: _weight_prior(params).from_published(value),
                published=lambda value, params: _weight_prior(params).published(value)),
        Array("mean_precision_", _C),
        _Shaped("degrees_of_freedom_", _dof_dims),
        Value("weight_concentration_prior_"), Value("mean_precision_prior_"),
        Array("mean_prior_", ("feature",)), Value("degrees_of_freedom_prior_"),
        _Shaped("covariance_prior_", _prior_dims),
        # algorithm="minibatch" and partial_fit only
        Value("n_steps_", optional=True), Value("n_samples_seen_", optional=True),
        # algorithm="truncated" only
        Array("n_evaluations_", ("iteration",), optional=True),
        Array("neighbors_", ("component", "neighbor"), optional=True),
    ),
    sizes=lambda est: {"component": est.n_components, "beta_parameter": 2},
    # how a fit is shown, scheduled, checkpointed and where it writes its
    # model (model_store): not the model
    run_parameters=frozenset({"progress", "verbose", "verbose_interval", "split_every",
                              "checkpoint_path", "checkpoint_every", "model_store"}),
)
