"""The notebooks in examples/ are stored with outputs that their code still produces.

The notebooks are stored executed (``docs/tools/notebooks.py`` runs them),
so the docs site and GitHub show their results and plots. Two checks keep
those outputs from going stale:

- without running anything, each notebook was executed top to bottom from
  the code it holds now (execution counts 1, 2, ... and a fingerprint of the
  code cells recorded at execution);
- each notebook runs again in a fresh kernel and produces outputs of the
  same kinds (text, PNG plots, HTML tables) with the same printed words,
  numbers aside (``output_signature`` in ``docs/tools/notebooks.py``).

Each notebook also asserts its own story (the fit finds the blobs, the
denoised image has a higher PSNR, ...), so executing it checks the results
as well as the code.
"""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def _load_tool():
    """The notebook tool of docs/tools, which defines what "the same outputs" means."""
    spec = importlib.util.spec_from_file_location("daskmix_docs_notebooks",
                                                  ROOT / "docs" / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notebooks = _load_tool()
RERUN = "python docs/tools/notebooks.py"


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_examples_are_there():
    """The stories of the issues each have a notebook."""
    names = {path.stem.split("-", 1)[1] for path in NOTEBOOKS}
    assert names == {"quick-start", "out-of-core-zarr", "pipeline-incremental-pca",
                     "model-selection", "image-denoising"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_stored_executed_from_its_current_code(path):
    """Valid, titled, and run top to bottom from the code cells it holds."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert sum(cell.cell_type == "markdown" for cell in nb.cells) >= 2
    cells = _code_cells(nb)
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name} is not stored as one top-to-bottom run (execution counts {counts}): "
        f"run `{RERUN} examples/{path.name}`")
    assert any(cell.outputs for cell in cells), f"{path.name} has no outputs: run `{RERUN}`"
    recorded = nb.metadata.get("daskmix", {}).get("source_sha256")
    assert recorded == notebooks.source_fingerprint(nb), (
        f"the code of {path.name} changed since its outputs were stored: "
        f"run `{RERUN} examples/{path.name}`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_stored_outputs_are_clean(path):
    """No errors, warnings, timestamps or paths of the machine that ran them."""
    nb = nbformat.read(path, as_version=4)
    for cell in _code_cells(nb):
        assert "execution" not in cell.metadata, path.name
        for output in cell.outputs:
            assert output.output_type != "error", path.name
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                f"{path.name} stores standard error: {output.text[:200]!r}")
    text = path.read_text()
    assert not re.search(r"/(?:work|tmp|home|root|Users)/", text), path.name
    assert set(nb.metadata["language_info"]) == {"name"}, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes_to_its_stored_outputs(path, tmp_path, monkeypatch):
    """A fresh run raises nothing and reproduces the stored outputs' signature."""
    from nbclient import NotebookClient

    stored = nbformat.read(path, as_version=4)
    fresh = nbformat.read(path, as_version=4)
    # The kernel inherits the environment: the smallest sizes, no GUI backend.
    for name, value in notebooks.ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    NotebookClient(fresh, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for before, after in zip(_code_cells(stored), _code_cells(fresh), strict=True):
        assert notebooks.output_signature(after) == notebooks.output_signature(before), (
            f"{path.name}, cell {before.execution_count}: the outputs differ from the "
            f"stored ones; if the change is intended, run `{RERUN} examples/{path.name}`")


def _cell(*outputs, tags=()):
    cell = nbformat.v4.new_code_cell("print(1)", metadata={"tags": list(tags)} if tags else {})
    cell.outputs = list(outputs)
    return cell


def _stdout(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_output_signature_ignores_numbers_but_not_words_or_kinds():
    """What the comparison above keeps and what it lets move."""
    signature = notebooks.output_signature
    png = nbformat.v4.new_output("display_data", data={"image/png": "iVBO", "text/plain": "<Figure>"})
    stderr = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: ...")
    # Digits, signs, spacing and how the writes were split do not count ...
    assert signature(_cell(_stdout("weights: [0.33 0.3  0.37]\n"), _stdout("after 7 iterations"))) \
        == signature(_cell(_stdout("weights: [-0.333 1e-05 0.4]\nafter 12 iterations")))
    assert signature(_cell(_stdout("x"), stderr)) == signature(_cell(_stdout("x")))
    # ... words, outputs and their kinds do.
    assert signature(_cell(_stdout("converged: True"))) != signature(_cell(_stdout("converged: False")))
    assert signature(_cell(_stdout("x"), png)) != signature(_cell(_stdout("x")))
    html = nbformat.v4.new_output("execute_result", data={"text/html": "<b>x</b>", "text/plain": "x"})
    plain = nbformat.v4.new_output("execute_result", data={"text/plain": "x"})
    assert signature(_cell(html)) != signature(_cell(plain))
    # A cell tagged as machine-dependent keeps only the kinds of its outputs.
    tag = notebooks.MACHINE_DEPENDENT
    assert signature(_cell(_stdout("http://127.0.0.1:8787/status"), tags=[tag])) \
        == signature(_cell(_stdout("needs bokeh"), tags=[tag]))
    assert signature(_cell(_stdout("x"), tags=[tag])) != signature(_cell(png, tags=[tag]))
