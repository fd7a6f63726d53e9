"""Field kinds: how one piece of an estimator's fitted state is stored in a model file.

An estimator declares its model file as a list of fields (see
:class:`daskmix._model_io.ModelSchema`), each one of these kinds:

* :class:`Array` - a fitted array, a variable over named dimensions;
* :class:`Value` - a fitted scalar (or small dict of scalars), stored as JSON;
* :class:`Coordinate` - labels of one dimension (feature names);
* :class:`LabelledAxis` - a ``(dimension name, labels or None)`` pair;
* :class:`RandomStream` - a ``numpy.random.RandomState`` to continue drawing from;
* :class:`Nested` - a dataclass of arrays, groups of arrays and scalars (the
  running statistics of an online algorithm, say);
* :class:`Transient` - an attribute not stored at all, made afresh on load
  (a cache).

Every field has ``write(estimator, writer, params)`` and
``read(reader, estimator, params)``; ``params`` are the estimator's
constructor parameters, from which dimensions may be derived. Fields know
nothing of the estimator classes: only attribute names and dimensions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Array",
    "Coordinate",
    "Group",
    "LabelledAxis",
    "Nested",
    "RandomStream",
    "Transient",
    "Value",
    "variable_name",
]


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


def _resolve(dims, params):
    """``dims``, or ``dims(params)`` when they depend on the constructor parameters.

    Parameters
    ----------
    dims : tuple of str or callable
    params : dict

    Returns
    -------
    tuple of str
    """
    return tuple(dims(params)) if callable(dims) else tuple(dims)


@dataclass(frozen=True)
class Array:
    """A fitted array, stored as a variable over named dimensions.

    Attributes
    ----------
    attr : str
        The attribute name; the variable is :func:`variable_name` of it.
    dims : tuple of str or callable
        Dimensions of the variable, or ``dims(params) -> tuple`` when they
        depend on the constructor parameters.
    kind : {"array", "list", "scalar", "strings", "labels"}, default="array"
        How the value comes back (see ``ModelReader.array``).
    optional : bool, default=False
        Whether a fitted estimator may lack it.
    """

    attr: str
    dims: tuple | Callable
    kind: str = "array"
    optional: bool = False

    def write(self, estimator, writer, params):
        """Store the attribute (skipped if optional and absent).

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        params : dict
        """
        if self.optional and not hasattr(estimator, self.attr):
            return
        writer.array(variable_name(self.attr), getattr(estimator, self.attr),
                     _resolve(self.dims, params), self.kind)

    def read(self, reader, estimator, params):
        """Set the attribute from the file (skipped if optional and absent).

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        params : dict
        """
        name = variable_name(self.attr)
        if self.optional and not reader.has(name):
            return
        setattr(estimator, self.attr, reader.array(name, _resolve(self.dims, params)))


@dataclass(frozen=True)
class Value:
    """A fitted scalar (bool, int, float, str, None, or a small dict of them), stored as JSON.

    Attributes
    ----------
    attr : str
    optional : bool, default=False
        Whether a fitted estimator may lack it.
    """

    attr: str
    optional: bool = False

    def write(self, estimator, writer, params):
        """Store the attribute (skipped if optional and absent).

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        params : dict
        """
        if self.optional and not hasattr(estimator, self.attr):
            return
        writer.value(self.attr, getattr(estimator, self.attr))

    def read(self, reader, estimator, params):
        """Set the attribute from the file (skipped if optional and absent).

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        params : dict
        """
        if self.optional and not reader.has(self.attr):
            return
        setattr(estimator, self.attr, reader.value(self.attr))


@dataclass(frozen=True)
class Coordinate:
    """Labels of the dimension ``dim`` (``feature_names_in_`` along ``feature``, say).

    Stored only when the attribute is set and not None; comes back as an
    object array of ``str``.

    Attributes
    ----------
    attr : str
    dim : str
    """

    attr: str
    dim: str

    def write(self, estimator, writer, params):
        """Label the dimension if the estimator has labels.

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        params : dict
        """
        labels = getattr(estimator, self.attr, None)
        if labels is not None:
            writer.coordinate(self.dim, labels)

    def read(self, reader, estimator, params):
        """Set the attribute if the dimension is labelled.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        params : dict
        """
        labels = reader.coordinate(self.dim)
        if labels is not None:
            setattr(estimator, self.attr, labels)


@dataclass(frozen=True)
class LabelledAxis:
    """A ``(dimension name, labels or None)`` pair, such as the feature axis of xarray input.

    The name is a JSON value under ``attr``; the labels, if any, a variable
    along ``dim``.

    Attributes
    ----------
    attr : str
    dim : str, default="feature"
        The dimension the labels lie along.
    """

    attr: str
    dim: str = "feature"

    @property
    def labels(self):
        """The name of the variable holding the labels.

        Returns
        -------
        str
        """
        return variable_name(self.attr) + "_labels"

    def write(self, estimator, writer, params):
        """Store the pair if the estimator has it.

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        params : dict
        """
        axis = getattr(estimator, self.attr, None)
        if axis is None:
            return
        dim, labels = axis
        writer.value(self.attr, str(dim))
        if labels is not None:
            writer.array(self.labels, labels, (self.dim,), kind="labels")

    def read(self, reader, estimator, params):
        """Restore the pair if it was stored.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        params : dict
        """
        if not reader.has(self.attr):
            return
        labels = reader.array(self.labels, (self.dim,)) if reader.has(self.labels) else None
        setattr(estimator, self.attr, (str(reader.value(self.attr)), labels))


@dataclass(frozen=True)
class RandomStream:
    """A ``numpy.random.RandomState`` that later calls keep drawing from.

    The Mersenne Twister key is a variable along ``mt19937_key``; the rest of
    its state a JSON value under ``attr``.

    Attributes
    ----------
    attr : str
    """

    attr: str

    @property
    def keys(self):
        """The name of the variable holding the key.

        Returns
        -------
        str
        """
        return variable_name(self.attr) + "_keys"

    def write(self, estimator, writer, params):
        """Store the generator's state if there is a generator.

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        params : dict
        """
        stream = getattr(estimator, self.attr, None)
        if stream is None:
            return
        name, keys, pos, has_gauss, cached = stream.get_state()
        writer.array(self.keys, keys, ("mt19937_key",))
        writer.value(self.attr, {"bit_generator": name, "pos": pos, "has_gauss": has_gauss,
                                 "cached_gaussian": cached})

    def read(self, reader, estimator, params):
        """Restore the generator if it was stored.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        params : dict
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


@dataclass(frozen=True)
class Transient:
    """An attribute that is not stored: a loaded model gets a fresh ``make()``.

    For caches that a fitted estimator holds (rebuilt on first use), so
    that a loaded model has the attributes the saved one had when fitted.

    Attributes
    ----------
    attr : str
    make : callable
        ``make()`` returns the fresh value.
    """

    attr: str
    make: Callable

    def write(self, estimator, writer, params):
        """Store nothing.

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        params : dict
        """

    def read(self, reader, estimator, params):
        """Set a fresh value.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        params : dict
        """
        setattr(estimator, self.attr, self.make())


@dataclass(frozen=True)
class Group:
    """Several arrays held together in one part of a :class:`Nested` state.

    Attributes
    ----------
    build : callable
        ``build(**arrays)`` makes the part from its arrays (a dataclass, or
        ``dict``).
    dims : mapping of str to (tuple of str or callable)
        Each array's dimensions, as for :class:`Array`.
    optional : bool, default=False
        Whether the part may be None.
    """

    build: Callable
    dims: Mapping
    optional: bool = False

    def write(self, part, writer, name, params):
        """Store the arrays of ``part`` as ``<name>_<array>``.

        Parameters
        ----------
        part : dataclass instance, dict or None
        writer : ModelWriter
        name : str
            The variable-name prefix.
        params : dict
        """
        if part is None:
            return
        for key, dims in self.dims.items():
            value = part[key] if isinstance(part, Mapping) else getattr(part, key)
            writer.array(f"{name}_{key}", value, _resolve(dims, params))

    def read(self, reader, name, params):
        """The part stored under ``name``, or None if an optional part was not stored.

        Parameters
        ----------
        reader : ModelReader
        name : str
        params : dict

        Returns
        -------
        object or None
        """
        first = next(iter(self.dims))
        if self.optional and not reader.has(f"{name}_{first}"):
            return None
        return self.build(**{key: reader.array(f"{name}_{key}", _resolve(dims, params))
                             for key, dims in self.dims.items()})


@dataclass(frozen=True)
class Nested:
    """A dataclass of arrays, groups of arrays and JSON scalars, stored if present.

    Each array part is a variable ``<prefix><part>`` and each :class:`Group`
    part variables ``<prefix><part>_<array>``; every other field of the
    dataclass goes into one JSON value under ``attr``.

    Attributes
    ----------
    attr : str
        The attribute holding the dataclass instance (or None).
    cls : type
        The dataclass.
    prefix : str
        The prefix of its variables' names.
    parts : mapping of str to (tuple of str, callable or Group)
        The dataclass fields held as arrays: dimensions as for
        :class:`Array`, or a :class:`Group`.
    """

    attr: str
    cls: type
    prefix: str
    parts: Mapping

    def write(self, estimator, writer, params):
        """Store the state if the estimator has one.

        Parameters
        ----------
        estimator : BaseEstimator
        writer : ModelWriter
        params : dict
        """
        state = getattr(estimator, self.attr, None)
        if state is None:
            return
        for part, spec in self.parts.items():
            value = getattr(state, part)
            if isinstance(spec, Group):
                spec.write(value, writer, self.prefix + part, params)
            else:
                writer.array(self.prefix + part, value, _resolve(spec, params))
        writer.value(self.attr, {
            field.name: getattr(state, field.name)
            for field in dataclasses.fields(state) if field.name not in self.parts
        })

    def read(self, reader, estimator, params):
        """Restore the state if it was stored.

        Parameters
        ----------
        reader : ModelReader
        estimator : BaseEstimator
        params : dict
        """
        if not reader.has(self.attr):
            return
        arrays = {}
        for part, spec in self.parts.items():
            if isinstance(spec, Group):
                arrays[part] = spec.read(reader, self.prefix + part, params)
            else:
                arrays[part] = reader.array(self.prefix + part, _resolve(spec, params))
        try:
            state = self.cls(**arrays, **reader.value(self.attr))
        except TypeError as exc:
            raise reader.corrupted(
                f"the {self.attr.strip('_').replace('_', ' ')} cannot be restored ({exc})"
            ) from None
        setattr(estimator, self.attr, state)
