"""What an estimator class stores in a model file, and the registry of those classes.

Each estimator declares a :class:`ModelSchema` beside its class (the
fields of :mod:`daskmix._model_io._fields` and the lengths its dimensions
must have) and registers with :func:`register_model`. The dependency points
from the estimator down to this layer: model-file code never imports an
estimator. The registry is the only way from a class name in a file to a
class: loading never imports anything the file names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ModelSchema", "model_class", "register_model", "registered_names", "schema_of"]


@dataclass(frozen=True)
class ModelSchema:
    """How one estimator class is written to a model Dataset and read back.

    The private state is declared too, so that a loaded model continues
    ``partial_fit`` exactly where the saved one stopped.

    Attributes
    ----------
    fields : tuple
        The fields (:class:`~daskmix._model_io.Array`,
        :class:`~daskmix._model_io.Value`, ...), written and read in order.
    sizes : callable
        ``sizes(estimator) -> dict``: the length each named dimension must
        have in a loaded model, checked on load. ``feature`` and
        ``feature2`` are always ``n_features_in_``.
    added_parameters : dict, default={}
        Constructor parameters the class gained after format version 1,
        with their defaults: a parameter at its default is not written, so
        a file from an earlier version saves back unchanged (and loads with
        the default, as a file without it does).
    run_parameters : frozenset of str, default=frozenset()
        Constructor parameters that change how a run is shown or scheduled,
        not the model (``progress``, ``verbose``, ``split_every``, ...):
        never written, and ignored (left at their default) in a file of an
        earlier version that holds them.
    """

    fields: tuple
    sizes: Callable
    added_parameters: dict = dataclasses.field(default_factory=dict)
    run_parameters: frozenset = frozenset()

    def stored_parameters(self, params):
        """The constructor parameters a file holds.

        ``params`` less the run parameters, and less the added ones at their
        default.

        Parameters
        ----------
        params : dict
            ``estimator.get_params(deep=False)``.

        Returns
        -------
        dict
        """
        return {name: value for name, value in params.items()
                if name not in self.run_parameters
                and (name not in self.added_parameters
                     or not _equal_default(value, self.added_parameters[name]))}

    def loaded_parameters(self, params):
        """The stored ``params`` a loaded model is built with: all but run parameters.

        Parameters
        ----------
        params : dict
            As the file holds them.

        Returns
        -------
        dict
        """
        return {name: value for name, value in params.items()
                if name not in self.run_parameters}

    def write(self, estimator, writer):
        """Store the fitted state of ``estimator``.

        Parameters
        ----------
        estimator : BaseEstimator
            Fitted.
        writer : ModelWriter
        """
        for field in self.fields:
            field.write(estimator, writer, writer.params)

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
            field.read(reader, estimator, params)
        self._check_sizes(reader, estimator)

    def _check_sizes(self, reader, estimator):
        """Raise unless every dimension has the length the model implies.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
            Loaded.

        Raises
        ------
        ModelFileError
        """
        n_features = estimator.n_features_in_
        expected = dict(self.sizes(estimator), feature=n_features, feature2=n_features)
        for name, (dims, values) in reader.variables.items():
            for dim, length in zip(dims, np.shape(values), strict=True):
                if dim in expected and length != expected[dim]:
                    raise reader.corrupted(
                        f"{name!r} has {length} entries along {dim!r}, but the model "
                        f"has {expected[dim]}"
                    )


def _equal_default(value, default):
    """Whether a parameter's ``value`` is its (scalar) ``default``, of the same type."""
    return type(value) is type(default) and value == default


#: Registered estimator classes by name: ``{name: (cls, schema)}``.
_REGISTRY = {}


def register_model(schema):
    """Class decorator: model files hold instances of the class, as ``schema`` says.

    Parameters
    ----------
    schema : ModelSchema

    Returns
    -------
    callable
        The decorator; it returns the class unchanged.

    Raises
    ------
    ValueError
        If another class of the same name is registered already.

    Examples
    --------
    >>> @register_model(ModelSchema(fields=(), sizes=lambda est: {}))  # doctest: +SKIP
    ... class Estimator(SaveMixin, BaseEstimator):
    ...     ...
    """

    def register(cls):
        known = _REGISTRY.get(cls.__name__)
        if known is not None and known[0] is not cls:
            raise ValueError(
                f"a model class named {cls.__name__!r} is registered already "
                f"({known[0].__module__}.{known[0].__qualname__})"
            )
        _REGISTRY[cls.__name__] = (cls, schema)
        return cls

    return register


def registered_names():
    """The names of the classes model files may hold, sorted.

    Returns
    -------
    list of str
    """
    return sorted(_REGISTRY)


def schema_of(estimator):
    """The schema of ``estimator``'s exact class.

    Parameters
    ----------
    estimator : BaseEstimator

    Returns
    -------
    ModelSchema

    Raises
    ------
    TypeError
        For a class that is not registered (a subclass of a registered class
        included: its extra state would be lost).
    """
    cls, schema = _REGISTRY.get(type(estimator).__name__, (None, None))
    if cls is not type(estimator):
        raise TypeError(
            f"daskmix cannot save a {type(estimator).__name__}; model files hold "
            f"{', '.join(registered_names())}."
        )
    return schema


def model_class(name):
    """The registered class named ``name`` and its schema, or None.

    Parameters
    ----------
    name : str

    Returns
    -------
    (type, ModelSchema) or None
    """
    return _REGISTRY.get(name)
