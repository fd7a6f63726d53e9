"""Model files: fitted estimators as netCDF or zarr, through ``xarray.Dataset``."""

from daskmix._model_io._api import (
    load,
    model_from_dataset,
    model_to_dataset,
    save_model,
)
from daskmix._model_io._dataset import FORMAT, VERSION, ModelFileError

__all__ = [
    "FORMAT", "VERSION", "ModelFileError", "load", "model_from_dataset",
    "model_to_dataset", "save_model",
]
