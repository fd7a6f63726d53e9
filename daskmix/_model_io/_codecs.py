"""What each estimator class stores in a model file, and how it is read back.

Every class has a :class:`Codec`: a list of :class:`Field` (fitted
attributes stored as variables over named dimensions, or as JSON scalars)
and a few *extras* for state that is not a plain attribute (the running
statistics of stepwise EM, the random stream of mini-batch k-means, the
feature axis of xarray input). The private state is stored too, so that a
loaded model continues ``partial_fit`` exactly where the saved one was.

The registry :data:`CODECS` is the only way from a class name in a file to a
class: loading never imports anything the file names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from daskmix.cluster import MiniBatchKMeans
from daskmix.decomposition import IncrementalPCA
from daskmix.mixture import GaussianMixture
from daskmix.mixture.covariance import get_covariance_type
from daskmix.mixture._dims import shape_dims
from daskmix.mixture._params import GaussianParams
from daskmix.mixture.algorithms.stepwise import StepwiseState

__all__ = ["CODECS", "Codec", "Field", "variable_name"]

def variable_name(attr):
    """The variable holding attribute ``attr`` (netCDF reserves names starting with ``_``).

    Parameters
    ----------
    attr : str

    Returns
    -------
    str
    """
    return "state" + attr if attr.startswith("_") else attr


@dataclass(frozen=True)
class Field:
    """One fitted attribute of an estimator.

    Attributes
    ----------
    attr : str
        The attribute name.
    dims : tuple of str, callable or None
        Dimensions of the stored variable, or ``dims(params) -> tuple`` when
        they depend on the constructor parameters; None stores a JSON scalar.
    kind : str
        How the array comes back (see ``ModelReader.array``).
    optional : bool
        Whether a fitted estimator may lack it.
    """

    attr: str
    dims: tuple | Callable | None = None
    kind: str = "array"
    optional: bool = False

    def dims_for(self, params):
        """The dimensions for these constructor parameters.

        Parameters
        ----------
        params : dict

        Returns
        -------
        tuple of str
        """
        return self.dims(params) if callable(self.dims) else self.dims


class _AxisExtra:
    """A ``(dimension name, labels or None)`` pair: the feature axis of xarray input.

    Parameters
    ----------
    attr : str
        The attribute holding the pair.
    """

    def __init__(self, attr):
        self.attr = attr
        self.labels = variable_name(attr) + "_labels"

    def write(self, estimator, writer):
        """Store the pair if the estimator has it.

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        """
        axis = getattr(estimator, self.attr, None)
        if axis is None:
            return
        dim, labels = axis
        writer.value(self.attr, str(dim))
        if labels is not None:
            writer.array(self.labels, labels, ("feature",), kind="labels")

    def read(self, reader, estimator):
        """Restore the pair if it was stored.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        """
        if not reader.has(self.attr):
            return
        labels = reader.array(self.labels, ("feature",)) if reader.has(self.labels) else None
        setattr(estimator, self.attr, (str(reader.value(self.attr)), labels))


class _RandomStreamExtra:
    """The ``numpy.random.RandomState`` that ``partial_fit`` keeps drawing from."""

    attr = "_random_state"
    keys = "state_random_state_keys"

    def write(self, estimator, writer):
        """Store the Mersenne Twister state if there is one.

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        """
        stream = getattr(estimator, self.attr, None)
        if stream is None:
            return
        name, keys, pos, has_gauss, cached = stream.get_state()
        writer.array(self.keys, keys, ("mt19937_key",))
        writer.value(self.attr, {"bit_generator": name, "pos": pos, "has_gauss": has_gauss,
                                 "cached_gaussian": cached})

    def read(self, reader, estimator):
        """Restore the random stream if it was stored.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        """
        if not reader.has(self.attr):
            return
        meta = reader.value(self.attr)
        keys = reader.array(self.keys, ("mt19937_key",)).astype(np.uint32)
        stream = np.random.RandomState()
        try:
            stream.set_state((meta["bit_generator"], keys, int(meta["pos"]),
                              int(meta["has_gauss"]), float(meta["cached_gaussian"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise reader.corrupted(f"the random state cannot be restored ({exc})") from None
        setattr(estimator, self.attr, stream)


def _covariance_dims(params):
    """Dimensions of the covariance parameters for ``params["covariance_type"]``.

    Parameters
    ----------
    params : dict
        Constructor parameters.

    Returns
    -------
    tuple of str
    """
    return shape_dims(get_covariance_type(params["covariance_type"], **params).parameter_shape)


def _second_moment_dims(params):
    """Dimensions of the second-moment statistic for ``params["covariance_type"]``.

    Parameters
    ----------
    params : dict
        Constructor parameters.

    Returns
    -------
    tuple of str
    """
    return shape_dims(get_covariance_type(params["covariance_type"], **params).second_moment_shape)


#: Dimensions of the arrays of a ``GaussianParams``.
_GAUSSIAN_PARAM_DIMS = {
    "weights": lambda params: ("component",),
    "means": lambda params: ("component", "feature"),
    "covariances": _covariance_dims,
    "prec_chol": _covariance_dims,
}

#: Dimensions of the running statistics of stepwise EM.
_STAT_DIMS = {
    "nk": lambda params: ("component",),
    "sy": lambda params: ("component", "feature"),
    "s2": _second_moment_dims,
}


class _StepwiseExtra:
    """The running state of stepwise EM (``GaussianMixture._stepwise_state``)."""

    attr = "_stepwise_state"
    prefix = "state_stepwise_"
    _arrays = ("params", "shift", "stats")

    def write(self, estimator, writer):
        """Store the state if there is one.

        Parameters
        ----------
        estimator : GaussianMixture
        writer : ModelWriter
        """
        state = getattr(estimator, self.attr, None)
        if state is None:
            return
        params = estimator.get_params(deep=False)
        for name, dims in _GAUSSIAN_PARAM_DIMS.items():
            writer.array(f"{self.prefix}params_{name}", getattr(state.params, name), dims(params))
        writer.array(f"{self.prefix}shift", state.shift, ("feature",))
        if state.stats is not None:
            for name, values in state.stats.items():
                writer.array(f"{self.prefix}stats_{name}", values, _STAT_DIMS[name](params))
        writer.value(self.attr, {
            field.name: getattr(state, field.name)
            for field in dataclasses.fields(state) if field.name not in self._arrays
        })

    def read(self, reader, estimator):
        """Restore the state if it was stored.

        Parameters
        ----------
        reader : ModelReader
        estimator : GaussianMixture
        """
        if not reader.has(self.attr):
            return
        params = estimator.get_params(deep=False)
        arrays = {
            name: reader.array(f"{self.prefix}params_{name}", dims(params))
            for name, dims in _GAUSSIAN_PARAM_DIMS.items()
        }
        stats = None
        if reader.has(f"{self.prefix}stats_nk"):
            stats = {name: reader.array(f"{self.prefix}stats_{name}", dims(params))
                     for name, dims in _STAT_DIMS.items()}
        try:
            state = StepwiseState(
                params=GaussianParams(**arrays),
                shift=reader.array(f"{self.prefix}shift", ("feature",)),
                stats=stats,
                **reader.value(self.attr),
            )
        except TypeError as exc:
            raise reader.corrupted(f"the stepwise state cannot be restored ({exc})") from None
        setattr(estimator, self.attr, state)


#: Fields every estimator has once fitted.
_COMMON = (Field("n_features_in_"),)


class Codec:
    """How one estimator class is written to a model Dataset and read back.

    Parameters
    ----------
    cls : type
        The estimator class.
    fields : sequence of Field
    sizes : callable
        ``sizes(estimator) -> dict`` of the length each named dimension
        must have, checked on load.
    extras : sequence
        Objects with ``write(estimator, writer)`` and ``read(reader, estimator)``.
    """

    def __init__(self, cls, fields, sizes, extras=()):
        self.cls = cls
        self.fields = _COMMON + tuple(fields)
        self.sizes = sizes
        self.extras = (_AxisExtra("_xarray_features"),) + tuple(extras)

    def write(self, estimator, writer):
        """Store the fitted state of ``estimator``.

        Parameters
        ----------
        estimator : BaseEstimator
            Fitted.
        writer : ModelWriter
        """
        params = writer.params
        for field in self.fields:
            if field.optional and not hasattr(estimator, field.attr):
                continue
            value = getattr(estimator, field.attr)
            if field.dims is None:
                writer.value(field.attr, value)
            else:
                writer.array(variable_name(field.attr), value, field.dims_for(params), field.kind)
        names = getattr(estimator, "feature_names_in_", None)
        if names is not None:
            writer.coordinate("feature", names)
        for extra in self.extras:
            extra.write(estimator, writer)

    def read(self, reader, estimator):
        """Set the fitted state stored in ``reader`` on the unfitted ``estimator``.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
            Built from the stored parameters.

        Raises
        ------
        ModelFileError
            If a field is missing or its dimensions do not fit the model.
        """
        params = estimator.get_params(deep=False)
        for field in self.fields:
            name = field.attr if field.dims is None else variable_name(field.attr)
            if field.optional and not reader.has(name):
                continue
            if field.dims is None:
                value = reader.value(name)
            else:
                value = reader.array(name, field.dims_for(params))
            setattr(estimator, field.attr, value)
        names = reader.coordinate("feature")
        if names is not None:
            estimator.feature_names_in_ = names
        for extra in self.extras:
            extra.read(reader, estimator)
        self._check_sizes(reader, estimator)

    def _check_sizes(self, reader, estimator):
        """Raise unless every dimension has the length the model implies.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
            Loaded.
        """
        n_features = estimator.n_features_in_
        expected = dict(self.sizes(estimator), feature=n_features, feature2=n_features)
        for name, (dims, values) in reader.variables.items():
            for dim, length in zip(dims, np.shape(values)):
                if dim in expected and length != expected[dim]:
                    raise reader.corrupted(
                        f"{name!r} has {length} entries along {dim!r}, but the model "
                        f"has {expected[dim]}"
                    )


_C = ("component",)
_CF = ("component", "feature")
_F = ("feature",)

#: The classes a model file may hold, by the name stored in the file.
CODECS = {
    "GaussianMixture": Codec(
        GaussianMixture,
        [
            Field("weights_", _C), Field("means_", _CF),
            Field("covariances_", _covariance_dims),
            Field("precisions_", _covariance_dims),
            Field("precisions_cholesky_", _covariance_dims),
            Field("classes_", _C),
            Field("lower_bounds_", ("iteration",), kind="list"),
            Field("converged_"), Field("n_iter_"), Field("lower_bound_"),
            Field("n_steps_", optional=True), Field("n_samples_seen_", optional=True),
            # algorithm="truncated" only
            Field("n_evaluations_", ("iteration",), optional=True),
            # covariance_type="factor" only
            Field("loadings_", ("component", "feature", "factor"), optional=True),
            Field("noise_variance_", _CF, optional=True),
        ],
        sizes=lambda est: {"component": est.n_components, "factor": est.n_factors},
        extras=[_StepwiseExtra()],
    ),
    "MiniBatchKMeans": Codec(
        MiniBatchKMeans,
        [
            Field("cluster_centers_", ("cluster", "feature")),
            Field("labels_", ("sample",), optional=True),
            Field("_counts", ("cluster",)),
            Field("inertia_"), Field("n_iter_"), Field("n_steps_"),
            Field("_n_since_last_reassign"), Field("_tol"), Field("_batch_size"),
            Field("_init_size"), Field("_n_init"), Field("_n_features_out"),
        ],
        sizes=lambda est: {"cluster": est.n_clusters},
        extras=[_RandomStreamExtra()],
    ),
    "IncrementalPCA": Codec(
        IncrementalPCA,
        [
            Field("components_", _CF), Field("singular_values_", _C),
            Field("explained_variance_", _C), Field("explained_variance_ratio_", _C),
            Field("noise_variance_", (), kind="scalar"),
            Field("mean_", _F), Field("var_", _F),
            Field("n_components_"), Field("n_samples_seen_"), Field("batch_size_"),
        ],
        sizes=lambda est: {"component": est.n_components_},
        extras=[_AxisExtra("_feature_axis")],
    ),
}
