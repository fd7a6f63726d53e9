"""Damage anywhere in a model file is caught: ``ModelFileError`` or the very same model.

Every file of a saved model (the netCDF file; every metadata JSON and chunk
file of a zarr store) is damaged at every 1/64 of its length, first and last
byte included, and truncated at several lengths. Each load must raise
``ModelFileError`` saying the file is damaged (or not a model) and what to
do, or return a model equal to the saved one bit for bit; never another
exception, never a different model. Paths that hold something other than a
model say exactly that.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import xarray as xr

import daskmix
from daskmix import GaussianMixture, IncrementalPCA, MiniBatchKMeans
from daskmix._model_io._dataset import dataset_checksum
from daskmix.cli import main as cli_main
from daskmix.exceptions import ModelFileError
from tests.model_io._support import assert_same_state

#: Small fitted models of every estimator kind that has model files.
ESTIMATORS = {
    "gaussian_mixture-full": lambda: GaussianMixture(2, covariance_type="full", random_state=0),
    "minibatch_kmeans": lambda: MiniBatchKMeans(2, n_init=1, random_state=0),
    "incremental_pca": lambda: IncrementalPCA(2),
}
FORMATS = ("nc", "zarr")
#: XOR masks of a damaged byte: all bits (invalid UTF-8 in JSON), and the lowest
#: (a digit of a shape or an ASCII letter of a name becomes another valid one).
MASKS = (0xFF, 0x01)

#: What a ModelFileError for damage or a non-model must say, including what to do.
_EXPLAINED = re.compile(
    r"is a damaged daskmix model file, truncated or corrupted: .*Save the model again"
    r"|is not a daskmix model file \(.*\); models are written by estimator\.save\(path\)"
    r"|shows no daskmix model header: .*save the model again"
)


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def model(request, blobs):
    """One small fitted model of each kind."""
    X, _ = blobs
    return ESTIMATORS[request.param]().fit(X[:120])


@pytest.fixture(params=FORMATS)
def saved(request, model, tmp_path):
    """The model saved in each format, and the files the save wrote."""
    path = tmp_path / f"model.{request.param}"
    model.save(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return path, files


def _offsets(length):
    """Every 1/64 of ``length`` bytes, first and last included (every byte of short files)."""
    return sorted({0, length - 1, *(i * length // 64 for i in range(64))})


def _outcome(model, path):
    """None if loading ``path`` meets the contract, else what went wrong."""
    try:
        loaded = daskmix.load(path)
    except ModelFileError as exc:
        return None if _EXPLAINED.search(str(exc)) else f"unexplained: {exc}"
    except Exception as exc:  # any other exception breaks the contract
        return f"{type(exc).__name__}: {exc}"
    try:
        assert_same_state(model, loaded)
    except AssertionError as exc:
        return f"a different model: {exc}"
    return None


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_every_flipped_byte_is_caught(model, saved):
    path, files = saved
    before = _listing(path.parent)
    escaped = []
    for file in files:
        good = file.read_bytes()
        for offset in _offsets(len(good)):
            for mask in MASKS:
                damaged = bytearray(good)
                damaged[offset] ^= mask
                file.write_bytes(bytes(damaged))
                problem = _outcome(model, path)
                if problem:
                    escaped.append(f"{file.name} byte {offset} ^ {mask:#x}: {problem}")
        file.write_bytes(good)
    assert escaped == []
    assert _listing(path.parent) == before  # loading leaves nothing behind
    assert_same_state(model, daskmix.load(path))


def test_every_truncation_is_caught(model, saved):
    path, files = saved
    escaped = []
    for file in files:
        good = file.read_bytes()
        for length in sorted({0, 1, 8, len(good) // 4, len(good) // 2, len(good) - 1}):
            file.write_bytes(good[:length])
            problem = _outcome(model, path)
            if problem:
                escaped.append(f"{file.name} cut at {length} of {len(good)}: {problem}")
        file.write_bytes(good)
    assert escaped == []


def test_damage_is_reported_with_the_storage_error_as_cause(model, tmp_path):
    path = tmp_path / "model.nc"
    model.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"damaged daskmix model file.*SHA-256") as info:
        daskmix.load(path)
    # the digest is checked before HDF5 parses the file: no storage error behind it
    assert info.value.__cause__ is None


def test_storage_error_of_a_file_without_the_digest_is_the_cause(model, tmp_path):
    """A file in the layout of earlier versions: the HDF5 error is kept as ``__cause__``."""
    path = tmp_path / "model.nc"
    model.save(path)
    payload = path.read_bytes()[512:]  # the netCDF-4 file behind the digest header
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ModelFileError, match="damaged daskmix model file") as info:
        daskmix.load(path)
    assert isinstance(info.value.__cause__, Exception)


def test_earlier_layout_still_loads(model, tmp_path):
    """Files written before the digest header (the bare netCDF-4 file) load as before."""
    path = tmp_path / "model.nc"
    model.save(path)
    path.write_bytes(path.read_bytes()[512:])
    assert_same_state(model, daskmix.load(path))


def _npz(path):
    np.savez(path, x=np.arange(3.0))


def _netcdf_of_data(path):
    xr.Dataset({"x": ("row", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")


def _zarr_of_data(path):
    xr.Dataset({"x": ("row", np.arange(3.0))}).to_zarr(path, zarr_format=3, consolidated=False)


#: Paths that hold something else, and what the message must call it.
NOT_MODELS = {
    "data.npy": (lambda p: np.save(p, np.arange(3.0)), r"a NumPy \.npy array"),
    "data.npz": (_npz, "a zip archive"),
    "data.csv": (lambda p: p.write_text("a,b\n1,2\n"), "a text file starting 'a,b'"),
    "empty.nc": (lambda p: p.write_bytes(b""), "an empty file"),
    "data.nc": (_netcdf_of_data, "a dataset with no daskmix_format='daskmix-model' attribute"),
    "data.zarr": (_zarr_of_data, "a dataset with no daskmix_format='daskmix-model' attribute"),
    "results": (lambda p: p.mkdir(), "a directory with no zarr.json"),
    "file.zarr": (lambda p: p.write_text("x"), "a file, not a zarr store directory"),
}


@pytest.mark.parametrize("name", sorted(NOT_MODELS))
def test_not_a_model_says_so(tmp_path, name):
    make, what = NOT_MODELS[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(ModelFileError) as info:
        daskmix.load(path)
    message = str(info.value)
    assert re.search(rf"{re.escape(str(path))} is not a daskmix model file \(.*{what}", message)
    assert "models are written by estimator.save(path) or `daskmix fit`" in message
    assert "damaged" not in message


@pytest.mark.parametrize("case", ["damaged", "not-a-model"])
def test_command_line_exits_4(model, tmp_path, capsys, case):
    path = tmp_path / "model.nc"
    if case == "damaged":
        model.save(path)
        data = bytearray(path.read_bytes())
        data[-1] ^= 0x01
        path.write_bytes(bytes(data))
    else:
        np.save(tmp_path / "data.npy", np.arange(3.0))
        os.replace(tmp_path / "data.npy", path)
    assert cli_main(["info", str(path)]) == 4
    err = capsys.readouterr().err
    expected = "damaged daskmix model file" if case == "damaged" else "not a daskmix model file"
    assert expected in err, err


def test_zarr_store_without_the_digest_still_loads(model, tmp_path):
    """A store written before the digest attribute loads as before."""
    path = tmp_path / "model.zarr"
    model.save(path)
    root = json.loads((path / "zarr.json").read_text())
    del root["attributes"]["store_digest"]
    # the content checksum covered the digest attribute: seal the store as before it
    stored = xr.open_dataset(path, engine="zarr", consolidated=False).load()
    root["attributes"]["checksum"] = dataset_checksum(stored.drop_attrs(deep=False).assign_attrs(
        {k: v for k, v in root["attributes"].items() if k != "checksum"}))
    (path / "zarr.json").write_text(json.dumps(root))
    assert_same_state(model, daskmix.load(path))
