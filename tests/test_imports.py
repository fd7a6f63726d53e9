"""``import daskmix`` stays light: heavy optional modules load when first used."""

import subprocess
import sys

import pytest

#: Modules ``import daskmix`` must not load, and why each is heavy or optional.
LAZY_MODULES = {
    "distributed": "only for a cluster or client",
    "dask.dataframe": "only for DataFrame input and table output",
    "matplotlib": "only for plots",
    "zarr": "only for zarr files",
    "h5py": "only for HDF5 model files",
    "h5netcdf": "only for HDF5 model files",
    "xarray": "only for xarray input and model files (dask.array imports it)",
    "dask.array": "only when the first graph is built (it loads numba, sparse, xarray)",
    "numba": "only when the compiled kernels first run",
}


@pytest.fixture(scope="module")
def loaded_by_import():
    """The modules a fresh interpreter holds after ``import daskmix``."""
    code = "import sys, daskmix; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", sorted(LAZY_MODULES))
def test_import_daskmix_does_not_load(module, loaded_by_import):
    assert module not in loaded_by_import, f"{module} loaded: {LAZY_MODULES[module]}"
