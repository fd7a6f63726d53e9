"""The notebooks in examples/ run from top to bottom and are stored without outputs.

Each notebook asserts its own story (the fit finds the blobs, the denoised
image has a higher PSNR, ...), so executing it checks the results as well
as the code.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_the_examples_are_there():
    """The stories of the issues each have a notebook."""
    names = {path.stem.split("-", 1)[1] for path in NOTEBOOKS}
    assert names == {"quick-start", "out-of-core-zarr", "pipeline-incremental-pca",
                     "model-selection", "image-patch-denoising",
                     "mfa-zero-shot-denoising"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_stored_clean_and_tells_a_story(path):
    """Valid, outputs stripped, opening with a title in markdown."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert sum(cell.cell_type == "markdown" for cell in nb.cells) >= 2
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    """Every cell runs without error in a fresh kernel (small sizes)."""
    nb = nbformat.read(path, as_version=4)
    # The kernel inherits the environment: the smallest sizes, no GUI backend.
    monkeypatch.setenv("DASKMIX_EXAMPLE_SCALE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [output for cell in nb.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert errors == []
