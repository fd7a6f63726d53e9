"""Model files: fitted estimators as netCDF or zarr, through ``xarray.Dataset``.

This layer imports no estimator. Each estimator declares what it stores (a
:class:`ModelSchema` of fields) beside its class and registers it with
:func:`register_model`; :func:`load` finds the class by the name in the file.
"""

from daskmix._model_io._api import (
    load,
    model_from_dataset,
    model_to_dataset,
    save_model,
)
from daskmix._model_io._dataset import FORMAT, VERSION
from daskmix._model_io._fields import (
    Array,
    Coordinate,
    Group,
    LabelledAxis,
    Nested,
    RandomStream,
    Transient,
    Value,
)
from daskmix._model_io._schema import ModelSchema, register_model, registered_names
from daskmix._model_io._sharded import (
    abort_store,
    check_store_path,
    create_store,
    finalize_store,
    piece_ranges,
    placeholder,
    write_block,
)

__all__ = [
    "FORMAT", "VERSION", "Array", "Coordinate", "Group", "LabelledAxis", "ModelSchema",
    "Nested", "RandomStream", "Transient", "Value", "abort_store", "check_store_path",
    "create_store", "finalize_store", "load", "model_from_dataset", "model_to_dataset",
    "piece_ranges", "placeholder", "register_model", "registered_names", "save_model",
    "write_block",
]
