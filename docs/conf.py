"""Sphinx configuration for the daskmix documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``; the test
suite (tests/test_docs.py) runs the same build with warnings as errors.
"""

import re

import daskmix

project = "daskmix"
author = "daskmix developers"
copyright = "daskmix developers"
version = release = daskmix.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    # MyST-NB: the MyST Markdown parser (the .md pages) plus notebooks. Chosen
    # over nbsphinx because it is the Executable Books project's maintained
    # reader, builds on the myst-parser the pages already use, and needs no
    # pandoc binary.
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks in examples/ (docs/examples links to that folder) are stored
# with their outputs (docs/tools/notebooks.py executes them) and rendered as
# they are: the build executes nothing. tests/test_examples.py keeps the
# stored outputs from going stale.
nb_execution_mode = "off"

# The API page lists each public name once with autosummary; each class page
# documents its methods, including those of daskmix base classes (fit,
# predict, ...), but not those inherited from scikit-learn (see
# _skip_foreign_member). numpydoc's own method tables would repeat them.
autosummary_generate = True
# A class page is its autoclass alone, without autosummary's method table.
templates_path = ["_templates"]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_default_options = {"members": True, "inherited-members": True}

# Markdown pages link to their sections by GitHub-style heading anchors.
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"daskmix {release}"



def _skip_foreign_member(app, what, name, obj, skip, options):
    """Leave out the members a class inherits from scikit-learn.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.
    what : str
        The kind of object that owns the member.
    name : str
        The member's name.
    obj : object
        The member.
    skip : bool
        Whether autodoc already skips it.
    options : dict
        The directive's options.

    Returns
    -------
    bool or None
        True for a class member defined outside daskmix (``get_params``, the
        generated ``set_*_request`` methods, ...), else autodoc's own decision.
    """
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and callable(obj) and not module.startswith("daskmix"):
        return True
    return None


_SHAPE_NAME = re.compile(r"\b([a-z_]*[a-z])_(?=[,)])")


def _escape_shape_names(app, what, name, obj, options, lines):
    """Escape fitted-attribute names in shapes such as ``(n_components_,)``.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.
    what : str
        The kind of object documented.
    name : str
        Its full name.
    obj : object
        The object.
    options : dict
        The directive's options.
    lines : list of str
        The docstring lines, edited in place.

    Notes
    -----
    In reStructuredText a word ending in ``_`` is a link to a target of that
    name, so ``of shape (n_features_in_,)`` fails the build. The docstrings
    stay as scikit-learn writes them (plain in ``help()``); only the text
    Sphinx reads is escaped.
    """
    for i, line in enumerate(lines):
        if "of shape" in line:
            lines[i] = _SHAPE_NAME.sub(r"\1\\_", line)


def setup(app):
    """Connect the docstring hooks.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.
    """
    app.connect("autodoc-skip-member", _skip_foreign_member)
    app.connect("autodoc-process-docstring", _escape_shape_names)
