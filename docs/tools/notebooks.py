"""Execute the notebooks in examples/ and store them with their outputs.

Run by hand after changing a notebook (or when ``tests/test_examples.py``
says the stored outputs are stale), from the root of the repository::

    python docs/tools/notebooks.py                      # all five, one after the other
    python docs/tools/notebooks.py examples/01-quick-start.ipynb

Each notebook runs top to bottom in a fresh kernel at the test suite's
sizes (``DASKMIX_EXAMPLE_SCALE=1``), in a temporary working directory, with
matplotlib's inline backend (plots are stored as PNG). What would change
from run to run without changing the story is left out: execution
timestamps, the kernel's version details. The notebook's metadata records
a fingerprint of its code cells (:func:`source_fingerprint`), which the
tests compare with the sources, so a code cell edited without re-running
the notebook fails the suite. The Sphinx site (``docs/examples.md``)
renders the stored outputs and executes nothing.

The tests import :func:`source_fingerprint` and :func:`output_signature`
from this file: what "the same outputs" means is defined once, here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import tempfile
from pathlib import Path

import nbformat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Cells with this tag print something that depends on the machine (a
#: timing, a dashboard address): their text is not compared, only the kinds
#: of outputs they produce.
MACHINE_DEPENDENT = "machine-dependent-output"

#: The environment the notebooks run in, here and in the tests.
ENVIRONMENT = {
    "DASKMIX_EXAMPLE_SCALE": "1",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}

_NUMBER = re.compile(r"[-+]?(?:\d[\d,_]*)?\.?\d+(?:[eE][-+]?\d+)?")
_SPACE = re.compile(r"\s+")


def source_fingerprint(nb):
    """SHA-256 of a notebook's code, in order.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook.

    Returns
    -------
    str
        Hex digest over the sources of its code cells (markdown cells can
        change without re-running the notebook).
    """
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.strip().encode())
            digest.update(b"\0")
    return digest.hexdigest()


def _normalise(text):
    """Text with every number replaced by ``#`` and runs of white space by one space."""
    return _SPACE.sub(" ", _NUMBER.sub("#", text)).strip()


def output_signature(cell):
    """What a code cell's outputs must keep between two executions.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        An executed code cell.

    Returns
    -------
    list of tuple
        One entry per output, in order: ``("stdout", text)`` for printed
        text (consecutive writes joined), ``(output_type, mime types,
        text/plain)`` for results and displays, ``("error", ename)`` for an
        error. Numbers become ``#`` and white space is collapsed, so
        digits that move with the BLAS or the library's fitting details do
        not count, while the words, the lines printed, the plots (PNG) and
        the HTML tables do. Standard error is left out (warnings of other
        libraries come and go with their versions). Cells tagged
        ``machine-dependent-output`` keep the kinds of their outputs but not
        their text.
    """
    compare_text = MACHINE_DEPENDENT not in cell.get("metadata", {}).get("tags", [])
    signature = []
    for output in cell.outputs:
        kind = output.output_type
        if kind == "stream":
            if output.name != "stdout":
                continue
            text = _normalise(output.text) if compare_text else ""
            if signature and signature[-1][0] == "stdout":
                joined = (signature[-1][1] + " " + text).strip()
                signature[-1] = ("stdout", joined)
            else:
                signature.append(("stdout", text))
        elif kind in ("execute_result", "display_data"):
            plain = output.data.get("text/plain", "")
            # A figure's repr names its size, which the mime types already cover.
            if compare_text and not plain.startswith("<Figure"):
                plain = _normalise(plain)
            else:
                plain = ""
            signature.append((kind, tuple(sorted(output.data)), plain))
        elif kind == "error":
            signature.append(("error", output.ename))
    return signature


def execute(path, timeout=600):
    """Run one notebook top to bottom and write it back with its outputs.

    Parameters
    ----------
    path : pathlib.Path
        The ``.ipynb`` file, rewritten in place.
    timeout : int, default=600
        Seconds allowed to each cell.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ.update(ENVIRONMENT)
    with tempfile.TemporaryDirectory() as workdir:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": workdir}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["daskmix"] = {"source_sha256": source_fingerprint(nb)}
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv=None):
    """Execute the notebooks named on the command line, or all of examples/.

    Parameters
    ----------
    argv : list of str, optional
        Notebook paths; all of ``examples/*.ipynb`` when empty.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        default=sorted(EXAMPLES.glob("*.ipynb")))
    for path in parser.parse_args(argv).notebooks:
        print("executing", path.name, flush=True)
        execute(path)


if __name__ == "__main__":
    main()
