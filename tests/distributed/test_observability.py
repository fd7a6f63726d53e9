"""What a user watching a fit sees: graph layer names, progress bars, verbose logs.

The layer-name test walks every graph daskmix builds (each one passes
through ``daskmix._dask.graph.compute``, or is returned lazily) and checks that
every layer, apart from the user's input, is named ``daskmix-...``, so the
dashboard's task stream reads like the algorithm.
"""

from __future__ import annotations

import io
import re
import sys
import warnings

import dask
import nbformat
import pytest
from dask.utils import key_split
from nbclient import NotebookClient

from daskmix import GaussianMixture, IncrementalPCA, MiniBatchKMeans
from daskmix._dask import graph as _graph
from tests.distributed._fits import as_dask, blobs

#: Layers a fit reading a row range (``algorithm="minibatch"``,
#: ``partial_fit``) takes from dask's own slicing, re-chunking and
#: concatenation of the *input*: dask offers no public way to name them
#: (see ``_graph.reduce_row_range``). Every other layer is daskmix's.
DASK_INPUT_LAYERS = {"getitem", "rechunk-merge", "rechunk-split", "concatenate"}


class GraphRecorder:
    """Records the layer names of every collection ``daskmix._dask.graph.compute`` receives."""

    def __init__(self, monkeypatch, X):
        self.input_keys = set(dict(X.__dask_graph__()))
        self.names = set()
        self._compute = _graph.compute
        monkeypatch.setattr(_graph, "compute", self.compute)

    def record(self, collection):
        if dask.is_dask_collection(collection):
            graph = dict(collection.__dask_graph__())
            self.names |= {key_split(k) for k in graph if k not in self.input_keys}
        return collection

    def compute(self, *collections, **kwargs):
        for collection in collections:
            self.record(collection)
        return self._compute(*collections, **kwargs)


def _gmm(**params):
    return GaussianMixture(3, random_state=0, max_iter=3, tol=0, **params)


def _gmm_outputs(X):
    model = _gmm().fit(X)
    return [model.predict(X), model.predict_proba(X), model.score_samples(X),
            model.score(X), model.bic(X)]


def _kmeans(X):
    model = MiniBatchKMeans(3, batch_size=400, max_iter=2, n_init=1, random_state=0).fit(X)
    return [model.predict(X), model.transform(X), model.score(X)]


def _ipca(X):
    model = IncrementalPCA(2).fit(X)
    return [model.transform(X), model.inverse_transform(model.transform(X))]


#: Every kind of pass: each fit's initialisation and iterations, and the lazy outputs.
PASSES = {
    "gmm-init-kmeans-and-em": lambda X: _gmm().fit(X),
    "gmm-init-k-means++": lambda X: _gmm(init_params="k-means++").fit(X),
    "gmm-init-random": lambda X: _gmm(init_params="random").fit(X),
    "gmm-init-random-from-data": lambda X: _gmm(init_params="random_from_data").fit(X),
    "gmm-minibatch": lambda X: _gmm(algorithm="minibatch", batch_size=400).fit(X),
    "gmm-partial-fit": lambda X: _gmm().partial_fit(X).partial_fit(X),
    "gmm-outputs": _gmm_outputs,
    "kmeans": _kmeans,
    "kmeans-partial-fit": lambda X: MiniBatchKMeans(3, n_init=1, random_state=0)
    .partial_fit(X),
    "ipca": _ipca,
    "ipca-partial-fit": lambda X: IncrementalPCA(2, batch_size=1000).partial_fit(X),
}


@pytest.mark.parametrize("name", sorted(PASSES))
def test_every_layer_daskmix_builds_is_named_daskmix(monkeypatch, name):
    X = as_dask(blobs(3000))
    recorder = GraphRecorder(monkeypatch, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=3 does not converge; not the point here
        results = PASSES[name](X)
    for result in results if isinstance(results, list) else [results]:
        recorder.record(result)  # lazy outputs are graphs daskmix built too
    assert recorder.names, "no graph was recorded"
    unnamed = {n for n in recorder.names if not n.startswith(_graph.PREFIX)}
    assert unnamed <= DASK_INPUT_LAYERS, sorted(unnamed)


def _progress_fit(algorithm, **params):
    X = as_dask(blobs(3000))
    settings = (dict(algorithm="em", tol=1e-4, max_iter=100) if algorithm == "em" else
                dict(algorithm="minibatch", batch_size=500, max_iter=10))
    return GaussianMixture(3, random_state=0, **settings, **params).fit(X)


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, as a user's shell is."""

    def isatty(self):
        return True


@pytest.mark.parametrize("algorithm", ["em", "minibatch"])
def test_progress_bar_in_a_terminal(algorithm, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    model = _progress_fit(algorithm, progress=True)
    # the bar's last state: done "of at most" max_iter, in the unit max_iter counts
    last = terminal.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    match = re.search(r"\| ([\d.]+) of at most (\d+) (EM iterations|passes) \[.*"
                      r"lower bound=(-?[\d.e+-]+), rows/s=([\d.e+]+)", last)
    assert match is not None, last
    done, total = float(match.group(1)), int(match.group(2))
    assert total == model.max_iter  # never changed, also when the fit stops early
    if algorithm == "em":
        assert match.group(3) == "EM iterations"
        assert done == model.n_iter_ < total and last.endswith(", done]")
        assert float(match.group(4)) == pytest.approx(model.lower_bound_, rel=1e-5)
    else:  # passes, as max_iter counts them: 6 updates of 500 rows make one
        assert match.group(3) == "passes"
        assert done == pytest.approx(model.n_steps_ / 6, abs=5e-4)
    assert float(match.group(5)) > 0


@pytest.mark.parametrize("algorithm", ["em", "minibatch"])
def test_verbose_logs_every_iteration(algorithm, capsys):
    model = _progress_fit(algorithm, verbose=1, verbose_interval=1)
    lines = capsys.readouterr().out.splitlines()
    iterations = [int(m.group(1)) for m in map(re.compile(r"\s+Iteration (\d+)$").match, lines)
                  if m]
    assert iterations == list(range(1, len(iterations) + 1))
    expected = model.n_iter_ if algorithm == "em" else model.n_steps_  # updates
    assert len(iterations) == expected
    assert lines[0] == "Initialization 0" and lines[-1] == "Initialization converged."


def test_progress_bar_in_jupyter_without_ipywidgets():
    """In a Jupyter kernel, ``progress=True`` draws tqdm's bar and never fails.

    ipywidgets is not installed here: tqdm.auto then falls back to the text
    bar (with tqdm's hint to install ipywidgets) instead of a widget.
    """
    code = (
        "import dask.array as da, numpy as np\n"
        "from daskmix import GaussianMixture\n"
        "X = da.from_array(np.random.RandomState(0).randn(2000, 2), chunks=500)\n"
        "gm = GaussianMixture(2, random_state=0, progress=True).fit(X)\n"
        "print('n_iter', gm.n_iter_)"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    n_iter = int(re.search(r"n_iter (\d+)", text).group(1))
    assert f"{n_iter} of at most 100 EM iterations" in text
    assert "lower bound=" in text and "rows/s=" in text
