"""``daskmix fit``, ``predict`` and ``info`` in this process: formats, options and errors."""

from __future__ import annotations

import json
import re

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import daskmix
from daskmix import GaussianMixture, IncrementalPCA, MiniBatchKMeans, cli
from tests.cli.conftest import COLUMNS, call_cli

INPUTS = {
    "npy": ["blobs.npy", "--chunk-rows", "500"],
    "zarr": ["blobs.zarr"],
    "zarr-group": ["group.zarr", "--array", "features"],
    "parquet": ["blobs.parquet"],
    "csv-glob": ["parts/part-*.csv"],
}


@pytest.fixture(scope="module")
def reference(blob_files):
    """The model ``fit -k 3 --covariance-type diag`` must reach, fitted in memory."""
    _, X = blob_files
    return GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)


@pytest.fixture(scope="module")
def model_file(blob_files, reference, tmp_path_factory):
    """The reference model saved to a file."""
    path = tmp_path_factory.mktemp("model") / "gm.nc"
    reference.save(path)
    return path


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_every_input_format_fits_the_same_model(blob_files, reference, tmp_path, kind):
    root, _ = blob_files
    path, *options = INPUTS[kind]
    code = call_cli("fit", root / path, *options, "-k", "3", "--covariance-type", "diag",
                    "-o", tmp_path / "m.nc")
    assert code == 0
    model = daskmix.load(tmp_path / "m.nc")
    assert_allclose(model.means_, reference.means_, rtol=1e-9)
    assert_allclose(model.covariances_, reference.covariances_, rtol=1e-9)
    if kind in ("parquet", "csv-glob"):
        assert model.feature_names_in_.tolist() == COLUMNS


@pytest.mark.parametrize("fmt", ["npy", "zarr", "parquet", "csv"])
def test_every_output_format_holds_the_result(blob_files, reference, model_file, tmp_path, fmt):
    root, X = blob_files
    output = tmp_path / f"proba.{fmt}"
    code = call_cli("predict", model_file, root / "blobs.npy", output, "--what",
                    "predict_proba")
    assert code == 0
    if fmt == "npy":
        result = np.load(output)
    elif fmt == "zarr":
        result = da.from_zarr(str(output)).compute()
    elif fmt == "parquet":
        result = pd.read_parquet(output)[[f"proba_{k}" for k in range(3)]].to_numpy()
    else:
        result = pd.read_csv(output)[[f"proba_{k}" for k in range(3)]].to_numpy()
    assert_array_equal(result, reference.predict_proba(X))
    assert sorted(p.name for p in tmp_path.iterdir()) == [output.name]


@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_truncated_probabilities_are_written_dense(blob_files, tmp_path, fmt):
    root, X = blob_files
    model = GaussianMixture(6, covariance_type="diag", algorithm="truncated", n_active=2,
                            n_neighbors=3, random_state=0).fit(X)
    model.save(tmp_path / "m.nc")

    def written(*options):
        output = tmp_path / f"proba.{fmt}"
        assert call_cli("predict", tmp_path / "m.nc", root / "blobs.npy", output, "--what",
                        "predict_proba", *options) == 0
        if fmt == "npy":
            return np.load(output)
        return pd.read_csv(output)[[f"proba_{k}" for k in range(6)]].to_numpy()

    # truncated inference (the model's default): zero outside each row's K(n)
    assert_array_equal(written(), model.predict_proba(X).toarray())
    exact = written("--inference", "exact")
    assert_allclose(exact, model.set_params(inference="exact").predict_proba(X), rtol=1e-12)


def test_output_is_replaced_atomically(blob_files, model_file, tmp_path):
    root, _ = blob_files
    output = tmp_path / "labels.parquet"
    for what in ("predict", "score_samples"):
        assert call_cli("predict", model_file, root / "blobs.npy", output, "--what", what) == 0
    assert list(pd.read_parquet(output).columns) == ["log_likelihood"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.parquet"]


def test_transform_of_pca_and_kmeans_models(blob_files, tmp_path):
    root, X = blob_files
    IncrementalPCA(2).fit(X).save(tmp_path / "pca.nc")
    assert call_cli("predict", tmp_path / "pca.nc", root / "blobs.npy", tmp_path / "p.csv") == 0
    projected = pd.read_csv(tmp_path / "p.csv")
    assert list(projected.columns) == ["component_0", "component_1"]
    assert_allclose(projected.to_numpy(), IncrementalPCA(2).fit(X).transform(X), rtol=1e-12)

    km = MiniBatchKMeans(4, random_state=0, batch_size=200).fit(X)
    km.save(tmp_path / "km.nc")
    assert call_cli("predict", tmp_path / "km.nc", root / "blobs.npy", tmp_path / "d.csv",
                    "--what", "transform") == 0
    distances = pd.read_csv(tmp_path / "d.csv")
    assert list(distances.columns) == [f"distance_{k}" for k in range(4)]
    assert_allclose(distances.to_numpy(), km.transform(X), rtol=1e-12)


def test_several_candidates_are_selected_and_tabled(blob_files, tmp_path, capsys):
    root, _ = blob_files
    code = call_cli("fit", root / "blobs.parquet", "-k", "2-6", "--covariance-type",
                    "full,spherical", "--criterion", "aic", "-o", tmp_path / "best.nc")
    assert code == 0
    out = capsys.readouterr().out
    assert "candidates (lowest aic selected):" in out
    assert out.count(" full ") + out.count(" spherical ") >= 10  # one table row each
    assert daskmix.load(tmp_path / "best.nc").n_components == 4


def test_algorithm_choices_follow_the_estimator(blob_files, tmp_path, capsys):
    root, _ = blob_files
    assert call_cli("fit", root / "blobs.npy", "-k", "2", "--algorithm", "banana") == 2
    allowed = GaussianMixture._parameter_constraints["algorithm"][0].options
    err = capsys.readouterr().err
    assert all(repr(option) in err for option in allowed), err


def test_minibatch_with_a_checkpoint(blob_files, tmp_path):
    root, X = blob_files
    code = call_cli("fit", root / "blobs.npy", "-k", "4", "--algorithm", "minibatch",
                    "--batch-size", "300", "--checkpoint", tmp_path / "fit.ckpt.npz",
                    "-o", tmp_path / "m.nc")
    assert code == 0
    model = daskmix.load(tmp_path / "m.nc")
    expected = GaussianMixture(4, algorithm="minibatch", batch_size=300, random_state=0).fit(X)
    assert model.algorithm == "minibatch" and model.n_steps_ == expected.n_steps_
    assert_allclose(model.means_, expected.means_, rtol=1e-9)
    assert (tmp_path / "fit.ckpt.npz").exists()


def test_factor_model_by_truncated_em(blob_files, tmp_path, capsys):
    root, X = blob_files
    code = call_cli("fit", root / "blobs.npy", "-k", "3", "--covariance-type", "factor",
                    "--n-factors", "1", "--algorithm", "truncated", "-o", tmp_path / "m.nc")
    assert code == 0
    model = daskmix.load(tmp_path / "m.nc")
    expected = GaussianMixture(3, covariance_type="factor", n_factors=1,
                               algorithm="truncated", random_state=0).fit(X)
    assert model.n_factors == 1 and model.loadings_.shape == (3, X.shape[1], 1)
    assert_allclose(model.means_, expected.means_, rtol=1e-9)
    assert_allclose(model.loadings_, expected.loadings_, rtol=1e-9)
    assert call_cli("info", tmp_path / "m.nc") == 0
    assert "truncated free energy per row" in capsys.readouterr().out


def test_covariance_floor_reaches_the_model(blob_files, tmp_path):
    root, X = blob_files
    floor = 0.5 * float(np.min(np.var(X, axis=0)))
    code = call_cli("fit", root / "blobs.npy", "-k", "3", "--covariance-floor", str(floor),
                    "-o", tmp_path / "m.nc")
    assert code == 0
    model = daskmix.load(tmp_path / "m.nc")
    expected = GaussianMixture(3, covariance_floor=floor, random_state=0).fit(X)
    assert model.covariance_floor == floor
    assert_allclose(model.covariances_, expected.covariances_, rtol=1e-9)
    assert np.linalg.eigvalsh(model.covariances_).min() >= floor * (1 - 1e-9)


def test_factor_without_n_factors_is_a_usage_error(blob_files, capsys):
    root, _ = blob_files
    assert call_cli("fit", root / "blobs.npy", "-k", "3", "--covariance-type", "factor") == 2
    assert "--n-factors" in capsys.readouterr().err


def test_default_model_path_is_in_the_current_directory(blob_files, tmp_path, monkeypatch):
    root, _ = blob_files
    monkeypatch.chdir(tmp_path)
    assert call_cli("fit", root / "parts" / "part-*.csv", "-k", "2") == 0
    assert [p.name for p in tmp_path.iterdir()] == ["part.model.nc"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "{root}/blobs.npy", "-k", "two"], "argument -k/--components"),
        (["fit", "{root}/blobs.npy", "-k", "2", "--batch-size", "10"],
         "--batch-size and --checkpoint need --algorithm minibatch"),
        (["fit", "{root}/blobs.npy", "-k", "2,3", "--algorithm", "minibatch"],
         "fitted by exact EM"),
        (["fit", "{root}/group.zarr", "-k", "2"], r"zarr group; choose the array with --array"),
        (["fit", "{root}/blobs.npy", "-k", "2", "--columns", "a"], "--columns applies to"),
        (["fit", "{root}/blobs.npy", "-k", "2", "--covariance-type", "round"],
         "invalid covariance type 'round'"),
        (["fit", "{root}/README", "-k", "2"], "cannot tell the format"),
        (["predict", "{model}", "{root}/blobs.npy", "{tmp}/out.txt"],
         "cannot tell the format of OUTPUT"),
        (["predict", "{model}", "{root}/blobs.npy", "{tmp}/out.npy", "--what", "transform"],
         "has no transform; choose --what from predict, predict_proba, score_samples"),
        (["fit", "{root}/mixed.csv", "-k", "2", "--columns", "a,zz"],
         r"--columns: .*mixed.csv has no column 'zz'; its columns are a, b, c, site$"),
        (["fit", "{root}/blobs.parquet", "-k", "2", "--columns", "a,bb"],
         r"has no column 'bb' \(did you mean 'b'\?\); its columns are a, b, c$"),
        (["fit", "{root}/blobs.npy", "-k", "2", "-o", "{tmp}/model.txt"],
         (r"model.txt: a model is saved as \.nc \(a netCDF-4 file\) or \.zarr \(a zarr "
          r"store\); end MODEL in \.nc or \.zarr$")),
        (["fit", "{root}/blobs.npy", "-k", "2", "--algorithm", "async", "-o", "{tmp}/m.nc"],
         r"--algorithm async runs on a Dask distributed cluster: pass --scheduler ADDRESS"),
        (["fit", "{root}/blobs.npy", "-k", "2", "surplus"], "unrecognized arguments: surplus$"),
    ],
)
def test_usage_errors_exit_2(blob_files, model_file, tmp_path, capsys, monkeypatch, args,
                            message):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    root, _ = blob_files
    args = [a.format(root=root, model=model_file, tmp=tmp_path) for a in args]
    assert call_cli(*args) == 2
    usage, *_, error = capsys.readouterr().err.strip().splitlines()
    assert usage.startswith(f"usage: daskmix {args[0]} ")  # the subcommand's usage
    assert error.startswith(f"daskmix {args[0]}: error: ")
    assert re.search(message, error), error
    assert list(tmp_path.iterdir()) == []  # nothing written (no netCDF named model.txt)


@pytest.mark.parametrize("args, typed, suggestion", [
    (["--n-compnents", "3", "data.npy"], "--n-compnents", "--n-components"),  # not "-k needed"
    (["data.npy", "-k", "3", "--covarience-type=diag"], "--covarience-type",
     "--covariance-type"),
    (["data.npy", "-K", "3"], "-K", "-k"),
    (["data.npy", "-k", "3", "--max-iters", "5"], "--max-iters", "--max-iter"),
])
def test_mistyped_option_suggests_the_closest(capsys, args, typed, suggestion):
    assert call_cli("fit", *args) == 2
    usage, *_, error = capsys.readouterr().err.strip().splitlines()
    assert usage.startswith("usage: daskmix fit ")
    assert error == f"daskmix fit: error: unrecognized option {typed}; did you mean {suggestion}?"


def test_unknown_option_without_a_close_one_points_to_help(capsys):
    assert call_cli("predict", "m.nc", "x.npy", "y.npy", "--banana") == 2
    assert capsys.readouterr().err.strip().endswith(
        "daskmix predict: error: unrecognized option --banana; see --help for the options")


@pytest.mark.parametrize("args, code, message", [
    (["--n-comp", "3", "--tol=0.5", "{tmp}/missing.npy"], 3, "INPUT not found"),
    (["-k3", "--random-state", "1", "--", "-missing.npy"], 3, "INPUT not found: -missing"),
    (["-k", "2", "--tol", "-1", "{tmp}/missing.npy"], 2, "argument --tol: must be at least 0"),
], ids=["abbreviation-and-equals", "attached-value-and-double-dash", "negative-number"])
def test_options_argparse_accepts_are_not_taken_for_typos(tmp_path, capsys, args, code,
                                                          message):
    assert call_cli("fit", *[a.format(tmp=tmp_path) for a in args]) == code
    err = capsys.readouterr().err
    assert message in err and "unrecognized" not in err, err


def _help_entries(text):
    """``{first option string: its help text on one line}`` of a ``--help`` output."""
    entries, current = {}, None
    for line in text.splitlines():
        if re.match(r"^  -", line):
            current = line.split()[0].rstrip(",")
            entries[current] = line
        elif current is not None and line.startswith("   "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


@pytest.mark.parametrize("command", ["fit", "predict", "info"])
def test_help_states_each_default_once(capsys, command):
    assert call_cli(command, "--help") == 0
    entries = _help_entries(capsys.readouterr().out)
    assert len(entries) >= 3
    for entry in entries.values():
        assert entry.count("(default") <= 1, entry
        assert "(default: None)" not in entry and "(default: False)" not in entry, entry
        assert "(default: [" not in entry, entry  # a default as the user writes it
    if command == "fit":
        assert "(default" not in entries["-k"]  # required: no default
        assert "-k K, --components K, --n-components K" in entries["-k"]
        assert entries["--covariance-type"].endswith("(default: full)")
        assert entries["--random-state"].endswith("(default: 0)")
        assert entries["-o"].endswith("(default: INPUT's name + .model.nc, in the current "
                                      "directory)")
        assert cli.build_parser().parse_args(["fit", "x.npy", "-k", "2"]).covariance_type == [
            "full"]


def _assert_error(capsys, code, expected_code, message):
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_data_errors_exit_3(blob_files, model_file, tmp_path, capsys):
    root, X = blob_files
    _assert_error(capsys, call_cli("fit", root / "mixed.csv", "-k", "2"), 3,
                  "non-numeric columns ['site']; choose the feature columns with --columns a,b,c")
    np.save(tmp_path / "two.npy", X[:, :2])
    _assert_error(capsys, call_cli("predict", model_file, tmp_path / "two.npy",
                                   tmp_path / "out.npy"), 3,
                  "X has 2 features, but GaussianMixture is expecting 3 features")
    bad = X.copy()
    bad[7, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    _assert_error(capsys, call_cli("fit", tmp_path / "nan.npy", "-k", "2",
                                   "-o", tmp_path / "m.nc"), 3, "contains NaN or infinity")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.txt").write_text("keep")
    _assert_error(capsys, call_cli("predict", model_file, root / "blobs.npy",
                                   tmp_path / "results", "--output-format", "parquet"), 3,
                  "is not a parquet output daskmix would replace")
    assert (tmp_path / "results" / "notes.txt").read_text() == "keep"
    _assert_error(capsys, call_cli("fit", root / "blobs.npy", "-k", "2", "-o",
                                   tmp_path / "no" / "m.nc"), 3, "does not exist; create it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npy", "results", "two.npy"]


def test_model_errors_exit_4(blob_files, model_file, tmp_path, capsys):
    root, _ = blob_files
    _assert_error(capsys, call_cli("info", tmp_path / "none.nc"), 4, "No model file at")
    (tmp_path / "cut.nc").write_bytes(model_file.read_bytes()[:1000])
    _assert_error(capsys, call_cli("predict", tmp_path / "cut.nc", root / "blobs.npy",
                                   tmp_path / "o.npy"), 4, "truncated or corrupted")


def test_help_documents_the_exit_codes(capsys):
    for command in ([], ["fit"], ["predict"], ["info"]):
        assert call_cli(*command, "--help") == 0
        out = capsys.readouterr().out
        assert "exit codes:" in out and "5    the Dask scheduler" in out


def test_progress_is_not_stored_in_the_model(blob_files, tmp_path, capsys):
    root, _ = blob_files
    assert call_cli("fit", root / "blobs.npy", "-k", "2", "--progress", "-o",
                    tmp_path / "m.nc") == 0
    assert "done after" in capsys.readouterr().err
    assert call_cli("info", tmp_path / "m.nc", "--json") == 0
    parameters = json.loads(capsys.readouterr().out)["parameters"]
    assert parameters["n_components"] == 2
    assert "progress" not in parameters and "verbose" not in parameters
    assert daskmix.load(tmp_path / "m.nc").progress is False


def test_info_json(model_file, capsys):
    assert call_cli("info", model_file, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["estimator"] == "GaussianMixture"
    assert info["format_version"] == 1
    assert info["parameters"]["covariance_type"] == "diag"
    assert info["fitted"]["converged_"] is True


def test_scheduler_address_runs_on_the_cluster(blob_files, reference, tmp_path):
    from distributed import Client, LocalCluster, get_task_stream

    root, _ = blob_files
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        with get_task_stream(client) as tasks:
            code = call_cli("fit", root / "blobs.npy", "-k", "3", "--covariance-type",
                            "diag", "--scheduler", cluster.scheduler_address,
                            "-o", tmp_path / "m.nc")
        assert code == 0
    assert any("daskmix-gmm-estep" in str(task["key"]) for task in tasks.data)
    assert_allclose(daskmix.load(tmp_path / "m.nc").means_, reference.means_, rtol=1e-9)


def test_a_sharded_model_predicts_and_shows_its_info(blob_files, reference, tmp_path, capsys):
    root, X = blob_files
    reference.save(tmp_path / "gm.zarr", shards=2)
    output = tmp_path / "proba.npy"
    assert call_cli("predict", tmp_path / "gm.zarr", root / "blobs.npy", output, "--what",
                    "predict_proba") == 0
    assert_allclose(np.load(output), reference.predict_proba(X), rtol=1e-10, atol=1e-300)
    capsys.readouterr()
    assert call_cli("info", tmp_path / "gm.zarr", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format_version"] == 2
    assert info["fitted"]["n_iter_"] == reference.n_iter_
