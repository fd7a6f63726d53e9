"""The Sphinx site in docs/ builds with warnings as errors."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_sphinx_site_builds_without_warnings(tmp_path):
    """``sphinx-build -W`` succeeds and writes every page and API entry."""
    source = tmp_path / "docs"
    # A copy, so the autosummary stubs are not written into the source tree.
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "generated"))
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(source), str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index", "user-guide", "examples", "out-of-core", "kubernetes", "benchmarks",
                 "benchmarks-history", "api", "architecture"):
        assert (out / f"{page}.html").is_file(), page
    # Every notebook is a page that shows its stored outputs, plots included.
    notebooks = sorted(path.stem for path in (DOCS.parent / "examples").glob("*.ipynb"))
    assert len(notebooks) == 5
    examples = (out / "examples.html").read_text()
    for name in notebooks:
        html = (out / "examples" / f"{name}.html").read_text()
        assert f"examples/{name}.html" in examples, name
        assert "cell_output" in html, name
    plotted = (out / "examples" / "04-model-selection.html").read_text()
    assert re.search(r"<img[^>]+\.png", plotted)
    api = (out / "api.html").read_text()
    for name in ("daskmix.GaussianMixture", "daskmix.MiniBatchKMeans", "daskmix.IncrementalPCA",
                 "daskmix.load", "daskmix.mixture.select_model",
                 "daskmix.exceptions.LostDataError",
                 "daskmix.plotting.plot_criteria", "daskmix.imaging.denoise"):
        assert (out / "generated" / f"{name}.html").is_file(), name
        assert name in api, name
    # numpydoc turned the estimators' sections into rendered fields.
    gm = (out / "generated" / "daskmix.GaussianMixture.html").read_text()
    assert "Parameters" in gm and "converged_" in gm and "set_fit_request" not in gm
