"""Model files that cannot be read give a clear error; a failed save keeps the old file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

import daskmix
from daskmix import GaussianMixture, ModelFileError
from daskmix._model_io import _storage, model_to_dataset
from daskmix._model_io._dataset import ModelWriter
from tests.model_io._support import assert_same_state


@pytest.fixture(scope="module")
def models(blobs):
    """Two different fitted mixtures: the one on disk, and the one a save would replace it with."""
    X, _ = blobs
    return (GaussianMixture(3, covariance_type="full", random_state=0).fit(X),
            GaussianMixture(2, covariance_type="diag", random_state=0).fit(X))


@pytest.fixture
def saved(models, tmp_path):
    """A good model file and the model in it."""
    path = tmp_path / "model.nc"
    models[0].save(path)
    return path, models[0]


def test_error_class_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def test_corrupted_array_bytes_fail_the_digest(saved):
    path, gm = saved
    data = bytearray(path.read_bytes())
    start = data.find(gm.means_.tobytes())
    assert start > 0, "the means are stored uncompressed, so their bytes are in the file"
    data[start + 3] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"damaged daskmix model.*does not match the SHA-256"):
        daskmix.load(path)


def test_corrupted_array_bytes_fail_the_checksum_without_the_header(models, tmp_path):
    """A file in the layout written before the digest header: the content checksum catches it."""
    path = tmp_path / "model.nc"
    gm = models[0]
    data = bytearray(model_to_dataset(gm).to_netcdf(None, engine="h5netcdf"))
    start = data.find(gm.means_.tobytes())
    data[start + 3] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"damaged.*its content does not match its checksum"):
        daskmix.load(path)


def test_netcdf_that_is_not_a_model(tmp_path):
    path = tmp_path / "data.nc"
    xr.Dataset({"x": ("row", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ModelFileError, match="not a daskmix model file"):
        daskmix.load(path)


def test_newer_format_version(models, tmp_path):
    path = tmp_path / "model.nc"
    ds = model_to_dataset(models[0])
    ds.attrs["daskmix_format_version"] = 99
    ds.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ModelFileError,
                       match=r"version 99 daskmix model.*reads versions 1 to 2.*Upgrade"):
        daskmix.load(path)


def test_edited_attribute_fails_the_checksum(models, tmp_path):
    path = tmp_path / "model.nc"
    ds = model_to_dataset(models[0])
    ds.attrs["params"] = ds.attrs["params"].replace('"tol": 0.001', '"tol": 0.5')
    ds.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ModelFileError, match="does not match its checksum"):
        daskmix.load(path)


def test_unknown_estimator(tmp_path):
    path = tmp_path / "model.nc"
    writer = ModelWriter("Pipeline", {})
    writer.value("n_features_in_", 3)
    writer.dataset().to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ModelFileError, match=r"holds a 'Pipeline'.*loads .*\bGaussianMixture\b"):
        daskmix.load(path)


def test_invalid_parameters_in_a_consistent_file(models, tmp_path):
    path = tmp_path / "model.nc"
    gm = models[0]
    writer = ModelWriter("GaussianMixture", dict(gm.get_params(), covariance_type="banana"))
    writer.dataset().to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ModelFileError, match=r"parameters are invalid.*covariance_type"):
        daskmix.load(path)


def test_missing_variable(models, tmp_path):
    path = tmp_path / "model.nc"
    writer = ModelWriter("GaussianMixture", models[0].get_params())
    writer.value("n_features_in_", 3)
    writer.dataset().to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ModelFileError, match="the variable 'weights_' is missing"):
        daskmix.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file at"):
        daskmix.load(tmp_path / "nothing.nc")


def test_zarr_store_with_a_code_running_codec_is_refused(models, tmp_path):
    path = tmp_path / "model.zarr"
    models[0].save(path)
    meta_path = path / "means_" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"].insert(0, {"name": "numcodecs.pickle", "configuration": {}})
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="files do not match the digest"):
        daskmix.load(path)
    # a store crafted without the digest (as stores before it were) is refused all the same
    root = json.loads((path / "zarr.json").read_text())
    del root["attributes"]["store_digest"]
    (path / "zarr.json").write_text(json.dumps(root))
    with pytest.raises(ModelFileError, match=r"numcodecs.pickle.*refused, not opened"):
        daskmix.load(path)


def test_zarr_format_2_store_is_refused(tmp_path):
    path = tmp_path / "old.zarr"
    xr.Dataset({"x": ("row", np.arange(3.0))}).to_zarr(path, zarr_format=2, consolidated=False)
    with pytest.raises(ModelFileError,
                       match=r"not a daskmix model file \(a zarr format 2 store"):
        daskmix.load(path)


def test_plain_directory_is_never_replaced(models, tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a zarr store; daskmix will not replace it"):
        models[0].save(tmp_path / "results")
    assert (tmp_path / "results" / "notes.txt").read_text() == "keep me"


def test_missing_directory_is_named(models, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        models[0].save(tmp_path / "no" / "such" / "model.nc")


@pytest.mark.parametrize("name, method", [("model.nc", "_write_framed"),
                                          ("model.zarr", "_seal_store")])
def test_interrupted_save_keeps_the_old_model(models, tmp_path, monkeypatch, name, method):
    path = tmp_path / name
    old, new = models
    old.save(path)
    real = getattr(_storage, method)

    def write_then_fail(target, *args, **kwargs):
        real(target, *args, **kwargs)  # the new content is fully written ...
        with open(os.path.join(target, "zarr.json") if os.path.isdir(target) else target,
                  "r+b") as f:
            f.truncate(100)  # ... then damaged, and the process interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(_storage, method, write_then_fail)
    with pytest.raises(KeyboardInterrupt):
        new.save(path)
    monkeypatch.undo()
    assert_same_state(old, daskmix.load(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left


def test_killed_save_keeps_the_old_model(models, tmp_path):
    """A process killed in the middle of a save (no cleanup at all) leaves the old file."""
    path = tmp_path / "model.nc"
    old, new = models
    old.save(path)
    new_path = tmp_path / "new.nc"
    new.save(new_path)
    script = textwrap.dedent(f"""
        import os
        import daskmix
        from daskmix._model_io import _storage

        model = daskmix.load({str(new_path)!r})
        real = _storage._write_framed

        def write_half_then_die(target, *args, **kwargs):
            real(target, *args, **kwargs)
            with open(target, "r+b") as f:
                f.truncate(os.path.getsize(target) // 2)
            os._exit(9)

        _storage._write_framed = write_half_then_die
        model.save({str(path)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 9, result.stderr
    assert_same_state(old, daskmix.load(path))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("model.nc", "new.nc")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.nc.")
    assert leftovers[0].endswith(".tmp")
