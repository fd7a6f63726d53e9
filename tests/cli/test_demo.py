"""``daskmix demo`` end to end, its data and its errors."""

import re
import subprocess
import sys

import dask
import numpy as np
import pytest

from daskmix import cli
from daskmix._dask import scheduler as _scheduler
from daskmix.cli import demo
from tests._covariance_cases import SKLEARN_TYPES

#: A demo small enough for a test: 20,000 rows in 7 chunks, 4 blobs in 5 dimensions.
SMALL = ["--rows", "20000", "--chunk-rows", "3000", "--features", "5", "--components", "4"]

#: Largest tolerated distance between a fitted mean and its true mean. The
#: standard error of a blob's mean is about std * sqrt(features / rows in the
#: blob) <= 1.5 * sqrt(5 / 1000) ~ 0.1 here, while a fit stuck in a wrong
#: local optimum puts a mean several units (the blob spacing) away.
MEAN_TOLERANCE = 0.4


def run_cli(*args):
    """Run ``python -m daskmix *args``; return the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "daskmix", *args],
        capture_output=True, text=True, timeout=300,
    )


def field(output, label):
    """The value printed on the summary line ``label: value``."""
    match = re.search(rf"^\s*{re.escape(label)}:\s*(.+)$", output, flags=re.MULTILINE)
    assert match is not None, f"no {label!r} line in:\n{output}"
    return match.group(1).strip()


# the demo has no --n-factors option (yet) for "factor"; in this process (the
# command as a whole runs as a process in the tests below)
@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_demo_recovers_the_true_mixture(covariance_type, capsys):
    assert cli.main(["demo", *SMALL, "--covariance-type", covariance_type]) == 0
    out = capsys.readouterr().out
    assert field(out, "rows") == "20,000"
    assert field(out, "features") == "5"
    assert field(out, "chunks").startswith("7 of up to 3,000 rows")
    assert field(out, "converged") == "True"
    assert 1 <= int(field(out, "iterations")) <= 100
    assert np.isfinite(float(field(out, "lower bound").split()[0]))
    assert np.isfinite(float(field(out, "BIC").split()[0]))
    assert f"covariance_type={covariance_type!r}" in out
    assert float(field(out, "max mean error")) < MEAN_TOLERANCE


def test_demo_reports_no_dashboard_on_the_threaded_scheduler():
    result = run_cli("demo", *SMALL, "--max-iter", "1")
    assert result.returncode == 0, result.stderr
    assert field(result.stdout, "dashboard") == demo.NO_DASHBOARD
    assert field(result.stdout, "iterations") == "1"


@pytest.mark.slow
def test_demo_dashboard_starts_a_local_cluster():
    result = run_cli("demo", *SMALL, "--dashboard")
    assert result.returncode == 0, result.stderr
    assert re.match(r"http://\S+/status", field(result.stdout, "dashboard"))
    assert float(field(result.stdout, "max mean error")) < MEAN_TOLERANCE


def test_bad_option_exits_nonzero_naming_it(capsys):
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["demo", "--components", "0"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "--components" in err
    assert "at least 1" in err


@pytest.mark.parametrize(
    "argv, option",
    [
        (["demo", "--rows", "-5"], "--rows"),
        (["demo", "--rows", "many"], "--rows"),
        (["demo", "--features", "0"], "--features"),
        (["demo", "--chunk-rows", "0"], "--chunk-rows"),
        (["demo", "--max-iter", "0"], "--max-iter"),
        (["demo", "--seed", "-1"], "--seed"),
        (["demo", "--covariance-type", "banana"], "--covariance-type"),
        (["demo", "--rows", "3", "--components", "4"], "--rows"),
        ([], "COMMAND"),
    ],
)
def test_invalid_arguments_are_argparse_errors(argv, option, capsys):
    with pytest.raises(SystemExit) as excinfo:
        cli.main(argv)
    assert excinfo.value.code == 2
    assert option in capsys.readouterr().err


def test_lazy_blobs_builds_a_graph_without_computing():
    mixture = demo.make_blob_mixture(3, 4, seed=0)
    with dask.config.set(scheduler=_fail_scheduler):
        X = demo.lazy_blobs(mixture, n_rows=10_001, chunk_rows=2_500, seed=0)
    assert X.shape == (10_001, 4)
    assert X.chunks == ((2_500,) * 4 + (1,), (4,))
    assert X.dtype == np.float64
    assert X.name.startswith("daskmix-demo-blobs")


def _fail_scheduler(*args, **kwargs):
    raise AssertionError("lazy_blobs computed something")


def test_lazy_blobs_chunks_are_reproducible_and_independent():
    mixture = demo.make_blob_mixture(3, 4, seed=0)
    X = demo.lazy_blobs(mixture, n_rows=9_000, chunk_rows=3_000, seed=7)
    whole = X.compute()
    np.testing.assert_array_equal(X.blocks[2].compute(), whole[6_000:])
    np.testing.assert_array_equal(
        demo.lazy_blobs(mixture, n_rows=9_000, chunk_rows=3_000, seed=7).compute(), whole
    )
    assert not np.array_equal(whole[:3_000], whole[3_000:6_000])
    other_seed = demo.lazy_blobs(mixture, n_rows=9_000, chunk_rows=3_000, seed=8)
    assert not np.array_equal(other_seed.compute(), whole)


def test_lazy_blobs_follow_the_mixture():
    mixture = demo.make_blob_mixture(3, 4, seed=0)
    X = demo.lazy_blobs(mixture, n_rows=200_000, chunk_rows=50_000, seed=0)
    expected_mean = mixture.weights @ mixture.means
    np.testing.assert_allclose(X.mean(axis=0).compute(), expected_mean, atol=0.1)


def test_match_components_undoes_a_permutation():
    rng = np.random.default_rng(0)
    true_means = rng.normal(size=(5, 3)) * 10
    order = np.array([3, 0, 4, 1, 2])
    fitted = true_means[order] + 0.01
    fitted_index, errors = demo.match_components(fitted, true_means)
    np.testing.assert_array_equal(order[fitted_index], np.arange(5))
    np.testing.assert_allclose(errors, np.sqrt(3) * 0.01)


def test_no_dashboard_without_a_distributed_client():
    assert _scheduler.active_dashboard() is None
