"""A fitted estimator as an ``xarray.Dataset``: the header, the checksum, and typed fields.

A model Dataset holds:

* one variable per fitted array, with named dimensions (``component``,
  ``feature``, ...), in the array's own dtype;
* the attributes ``daskmix_format`` (:data:`FORMAT`),
  ``daskmix_format_version`` (:data:`VERSION`), ``daskmix_version``,
  ``estimator`` (the class name), ``params`` (the constructor parameters as
  JSON), ``fitted`` (the fitted scalars as JSON) and ``checksum`` (a SHA-256
  of everything else, so a file damaged in a way that still parses is caught).

Only plain JSON and numeric or string arrays are stored: nothing is pickled,
and reading a model runs no code from the file.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os

import numpy as np

from daskmix._model_io._messages import damaged, not_a_model
from daskmix._version import __version__
from daskmix.exceptions import ModelFileError

__all__ = [
    "FORMAT",
    "SHARDED_VERSION",
    "VERSION",
    "ModelReader",
    "ModelWriter",
    "check_header",
    "dataset_checksum",
    "params_from_json",
    "params_to_json",
]

#: The ``daskmix_format`` attribute of every model file.
FORMAT = "daskmix-model"
#: The format version of the model files ``estimator.save(path)`` writes.
VERSION = 1
#: The format version of sharded zarr stores (``save(path, shards=P)``), the
#: newest this daskmix reads. An older daskmix refuses them as too new.
SHARDED_VERSION = 2

#: Attributes only a daskmix model has (besides ``daskmix_format``): a file
#: with any of them but a wrong ``daskmix_format`` is a damaged model.
_MODEL_ATTRS = frozenset({
    "daskmix_format_version", "daskmix_version", "estimator", "params", "fitted", "kinds",
    "fortran_order", "checksum",
})

#: How a stored array comes back: as an ndarray, a list of Python numbers, a
#: NumPy scalar, an object array of ``str`` (feature names), or labels
#: (strings as a unicode array, anything else as stored).
_KINDS = ("array", "list", "scalar", "strings", "labels")


def _plain(value, name):
    """``value`` as a JSON value, or raise naming ``name``.

    Parameters
    ----------
    value : object
    name : str
        The parameter or attribute, for the error message.

    Returns
    -------
    None, bool, int, float, str, list or dict
        Arrays and sequences of numbers become ``{"ndarray": nested lists,
        "dtype": str}``; paths become strings.

    Raises
    ------
    ValueError
        For values JSON cannot hold without running code on load
        (callables, random generators, arbitrary objects).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return {"ndarray": array.tolist(), "dtype": array.dtype.str}
    raise ValueError(
        f"{name}={value!r} cannot be stored in a model file, which holds plain "
        "numbers, strings and numeric arrays only (loading a model never runs "
        f"code). Replace it first, e.g. estimator.set_params({name.rstrip('_')}=None) "
        "for a random state, or an array of initial values instead of a callable."
    )


def _from_plain(value):
    """Undo :func:`_plain` for arrays.

    Parameters
    ----------
    value : JSON value

    Returns
    -------
    object
    """
    if isinstance(value, dict) and set(value) == {"ndarray", "dtype"}:
        return np.asarray(value["ndarray"], dtype=np.dtype(value["dtype"]))
    return value


def params_to_json(params):
    """Constructor parameters as a JSON string.

    Parameters
    ----------
    params : dict
        ``estimator.get_params(deep=False)``.

    Returns
    -------
    str
    """
    return json.dumps({name: _plain(value, name) for name, value in sorted(params.items())})


def params_from_json(text):
    """Constructor parameters from :func:`params_to_json`'s string.

    Parameters
    ----------
    text : str

    Returns
    -------
    dict
    """
    return {name: _from_plain(value) for name, value in json.loads(text).items()}


def _strings(values):
    """An object array of ``str``: stored as variable-length UTF-8 by netCDF and zarr alike.

    Parameters
    ----------
    values : array-like

    Returns
    -------
    ndarray of object
    """
    values = np.asarray(values)
    out = np.empty(values.shape, dtype=object)
    out.ravel()[:] = [str(v) for v in values.ravel()]
    return out


def _canonical_bytes(values):
    """Bytes of an array that do not depend on how the storage decoded its dtype.

    Strings hash as UTF-8 whatever their NumPy dtype (object, unicode, or
    NumPy's variable-width string dtype), dates as int64 nanoseconds.

    Parameters
    ----------
    values : ndarray

    Returns
    -------
    bytes
    """
    values = np.asarray(values)
    kind = values.dtype.kind
    if kind in "OUST":
        return b"str:" + "\x00".join(str(v) for v in values.ravel()).encode()
    if kind in "mM":
        unit = "datetime64[ns]" if kind == "M" else "timedelta64[ns]"
        return b"time:" + np.ascontiguousarray(values.astype(unit).view(np.int64)).tobytes()
    return values.dtype.str.encode() + b":" + np.ascontiguousarray(values).tobytes()


def checksum(variables, attrs):
    """SHA-256 over the variables and the JSON attributes of a model.

    Parameters
    ----------
    variables : dict of str to (dims, ndarray)
    attrs : dict
        The attributes other than ``checksum``.

    Returns
    -------
    str
        ``"sha256:<hex digest>"``.
    """
    digest = hashlib.sha256()
    for name in sorted(attrs):
        digest.update(f"attr {name}={attrs[name]}\n".encode())
    for name in sorted(variables):
        dims, values = variables[name]
        values = np.asarray(values)
        digest.update(f"var {name} {tuple(dims)} {values.shape}\n".encode())
        digest.update(_canonical_bytes(values))
    return "sha256:" + digest.hexdigest()


def dataset_checksum(dataset):
    """The checksum of a model Dataset as stored: its variables, coordinates and attributes.

    Parameters
    ----------
    dataset : xarray.Dataset
        Loaded; its ``checksum`` attribute, if any, is left out.

    Returns
    -------
    str
        As :func:`checksum`; equal to what :class:`ModelWriter` stored for
        the same content.
    """
    hashed = {name: (tuple(dataset[name].dims), dataset[name].values)
              for name in dataset.data_vars}
    hashed.update({f"coord {dim}": ((str(dim),), dataset[dim].values)
                   for dim in dataset.coords})
    attrs = {name: _attr_text(value) for name, value in dataset.attrs.items()
             if name != "checksum"}
    return checksum(hashed, attrs)


class ModelWriter:
    """Collects an estimator's fitted state, then builds the Dataset.

    Parameters
    ----------
    estimator_name : str
    params : dict
        Constructor parameters.
    """

    def __init__(self, estimator_name, params):
        self.estimator_name = estimator_name
        self.params = params
        self.variables = {}
        self.kinds = {}
        self.fortran = []
        self.coords = {}
        self.values = {}

    def array(self, name, value, dims, kind="array"):
        """Store ``value`` as the variable ``name`` over ``dims``.

        Parameters
        ----------
        name : str
        value : array-like
        dims : tuple of str
        kind : {"array", "list", "scalar", "strings", "labels"}, default="array"
            How :meth:`ModelReader.array` gives it back.
        """
        values = np.asarray(value)
        if kind == "list":
            values = values.astype(np.float64)
        if values.dtype.kind in "US":
            values = _strings(values)
        if values.ndim != len(dims):
            raise ValueError(f"{name} has shape {values.shape}, expected dims {dims}")
        if values.dtype.kind not in "biufOUSTmM":
            raise ValueError(f"{name} has dtype {values.dtype}, which a model file cannot hold")
        self.variables[name] = (tuple(dims), values)
        self.kinds[name] = kind
        if values.ndim > 1 and values.flags.f_contiguous and not values.flags.c_contiguous:
            # the memory order is kept too: it can change the rounding of products
            self.fortran.append(name)

    def coordinate(self, dim, labels):
        """Label the dimension ``dim`` (feature names, say).

        Parameters
        ----------
        dim : str
        labels : array-like of str
        """
        self.coords[dim] = _strings(labels)

    def value(self, name, value):
        """Store a scalar ``value`` (bool, int, float, str, None, or a small dict of them).

        Parameters
        ----------
        name : str
        value : object
        """
        if isinstance(value, dict):
            self.values[name] = {key: _plain(v, f"{name}[{key}]") for key, v in value.items()}
        else:
            self.values[name] = _plain(value, name)

    def attrs(self):
        """The Dataset's attributes, checksum included.

        Returns
        -------
        dict of str to str or int
        """
        attrs = self.header()
        hashed = dict(self.variables)
        hashed.update({f"coord {dim}": ((dim,), v) for dim, v in self.coords.items()})
        attrs["checksum"] = checksum(hashed, attrs)
        return attrs

    def header(self):
        """The Dataset's attributes but the checksum.

        Returns
        -------
        dict of str to str or int
        """
        return {
            "daskmix_format": FORMAT,
            "daskmix_format_version": VERSION,
            "daskmix_version": __version__,
            "estimator": self.estimator_name,
            "params": params_to_json(self.params),
            "fitted": json.dumps(self.values, sort_keys=True),
            "kinds": json.dumps(self.kinds, sort_keys=True),
            "fortran_order": json.dumps(sorted(self.fortran)),
        }

    def dataset(self):
        """The model as an ``xarray.Dataset``.

        Returns
        -------
        xarray.Dataset
        """
        import xarray as xr

        data_vars = {name: xr.Variable(dims, values)
                     for name, (dims, values) in self.variables.items()}
        coords = {dim: xr.Variable((dim,), values) for dim, values in self.coords.items()}
        return xr.Dataset(data_vars, coords=coords, attrs=self.attrs())


def check_header(attrs, source):
    """Raise unless ``attrs`` are those of a daskmix model of a readable version.

    Parameters
    ----------
    attrs : dict
    source : str
        The path, for messages.

    Returns
    -------
    version : int

    Raises
    ------
    ModelFileError
    """
    stated = attrs.get("daskmix_format")
    if stated != FORMAT:
        others = sorted(_MODEL_ATTRS & set(attrs))
        if not others:
            raise not_a_model(source, f"a dataset with no daskmix_format={FORMAT!r} attribute")
        raise damaged(source, f"its daskmix_format attribute is {stated!r}, not {FORMAT!r}, "
                              f"though it has the model attributes {others}")
    try:
        version = int(attrs.get("daskmix_format_version"))
    except (TypeError, ValueError):
        raise damaged(
            source,
            f"its format version {attrs.get('daskmix_format_version')!r} is not a number",
        ) from None
    if version > SHARDED_VERSION or version < 1:
        writer = attrs.get("daskmix_version", "an unknown version")
        raise ModelFileError(
            f"{source} is a version {version} daskmix model file (written by daskmix "
            f"{writer}), but this daskmix ({__version__}) reads versions 1 to {SHARDED_VERSION}. "
            "Upgrade daskmix (python -m pip install -U daskmix), or save the model "
            "again with this version. (If no newer daskmix wrote it, the file is "
            "damaged: restore it from a copy.)"
        )
    return version


class ModelReader:
    """Typed access to a model Dataset's variables and values.

    Verifies the checksum on construction.

    Parameters
    ----------
    dataset : xarray.Dataset
        Loaded into memory.
    source : str
        The path, for messages.
    sharded : dict of str to (tuple of str, array), default=None
        The per-component arrays of a sharded store, read apart from
        ``dataset`` (their blocks have digests of their own, which the
        checksum covers through the store's attributes). NumPy arrays come
        back as stored variables do; any other array (a lazy dask array)
        comes back as it is.

    Raises
    ------
    ModelFileError
        If the checksum or the JSON attributes do not match the content.
    """

    def __init__(self, dataset, source, sharded=None):
        self.source = source
        attrs = {name: dataset.attrs[name] for name in dataset.attrs if name != "checksum"}
        try:
            self.values = json.loads(attrs["fitted"])
            self.kinds = json.loads(attrs["kinds"])
            self.fortran = set(json.loads(attrs["fortran_order"]))
            self.params = params_from_json(attrs["params"])
            self.estimator_name = str(attrs["estimator"])
        except (KeyError, TypeError, ValueError) as exc:
            raise self.corrupted(f"its attributes cannot be read ({exc})") from None
        self.variables = {
            name: (tuple(dataset[name].dims), dataset[name].values)
            for name in dataset.data_vars
        }
        self.coords = {str(dim): dataset[dim].values for dim in dataset.coords}
        if dataset.attrs.get("checksum") != dataset_checksum(dataset):
            raise self.corrupted("its content does not match its checksum")
        self.lazy = set()
        for name, (dims, values) in (sharded or {}).items():
            self.variables[name] = (tuple(dims), values)
            if not isinstance(values, np.ndarray):
                self.lazy.add(name)

    def corrupted(self, detail):
        """The error for damaged content.

        Parameters
        ----------
        detail : str

        Returns
        -------
        ModelFileError
        """
        return damaged(self.source, detail)

    def has(self, name):
        """Whether the variable or value ``name`` was stored.

        Parameters
        ----------
        name : str

        Returns
        -------
        bool
        """
        return name in self.variables or name in self.values

    def array(self, name, dims):
        """The variable ``name``, checked to lie over ``dims``.

        Parameters
        ----------
        name : str
        dims : tuple of str

        Returns
        -------
        ndarray, list, NumPy scalar
            As the ``kind`` it was written with says.

        Raises
        ------
        ModelFileError
            If it is missing or over other dimensions.
        """
        if name not in self.variables:
            raise self.corrupted(f"the variable {name!r} is missing")
        stored_dims, values = self.variables[name]
        if stored_dims != tuple(dims):
            raise self.corrupted(f"{name!r} has dimensions {stored_dims}, expected {tuple(dims)}")
        if name in self.lazy:
            return values
        kind = self.kinds.get(name, "array")
        if kind == "list":
            return [float(v) for v in values]
        if kind == "scalar":
            return values[()]
        if kind == "strings":
            return np.asarray([str(v) for v in values], dtype=object)
        if kind == "labels" and values.dtype.kind in "OUST":
            return np.asarray([str(v) for v in values])
        if name in self.fortran:
            return np.asfortranarray(values)
        return np.ascontiguousarray(values)

    def coordinate(self, dim):
        """Labels of ``dim`` as an object array of ``str``, or None.

        Parameters
        ----------
        dim : str

        Returns
        -------
        ndarray or None
        """
        if dim not in self.coords:
            return None
        return np.asarray([str(v) for v in self.coords[dim]], dtype=object)

    def value(self, name):
        """The stored scalar (or small dict) ``name``.

        Parameters
        ----------
        name : str

        Returns
        -------
        object

        Raises
        ------
        ModelFileError
            If it is missing.
        """
        if name not in self.values:
            raise self.corrupted(f"the value {name!r} is missing")
        value = self.values[name]
        if isinstance(value, dict):
            return {key: _from_plain(v) for key, v in value.items()}
        return _from_plain(value)


def _attr_text(value):
    """An attribute as the writer hashed it (netCDF may give ints back as NumPy ints).

    Parameters
    ----------
    value : object

    Returns
    -------
    str or int
    """
    if isinstance(value, (np.integer, numbers.Integral)) and not isinstance(value, bool):
        return int(value)
    return str(value)
