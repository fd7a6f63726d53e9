"""``daskmix info MODEL``: what a model file holds."""

from __future__ import annotations

import json

from daskmix._model_io import model_from_dataset
from daskmix._model_io._sharded import is_sharded_store, open_store
from daskmix._model_io._storage import is_zarr_path, read_dataset
from daskmix._state import load
from daskmix.cli._common import HelpFormatter, lines
from daskmix.cli._errors import EPILOG, EXIT_MODEL, CLIError
from daskmix.cli._summary import component_table, model_lines
from daskmix.exceptions import ModelFileError

__all__ = ["add_parser", "load_model_file", "run"]


def add_parser(commands):
    """Add the ``info`` subcommand.

    Parameters
    ----------
    commands : argparse._SubParsersAction
    """
    parser = commands.add_parser(
        "info",
        help="describe a saved model",
        description="Print what the model file MODEL holds: the estimator, its "
                    "parameters, the fit and its components.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a model file (.nc) or store (.zarr)")
    parser.add_argument("--json", action="store_true",
                        help="print the header, parameters and fitted scalars as JSON")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an unexpected error")
    parser.set_defaults(run=run, parser=parser)


def load_model_file(path, lazy=False):
    """The model at ``path`` and its file attributes.

    Parameters
    ----------
    path : str
    lazy : bool, default=False
        Whether a sharded store's per-component arrays stay on disk (see
        ``daskmix.load``); ordinary model files are read into memory.

    Returns
    -------
    model : GaussianMixture, MiniBatchKMeans or IncrementalPCA
    attrs : dict

    Raises
    ------
    CLIError
        ``EXIT_MODEL`` if the file is missing or cannot be read.
    """
    try:
        if is_sharded_store(path):
            return load(path, lazy=lazy), dict(open_store(path)[0].attrs)
        dataset = read_dataset(path)
        return model_from_dataset(dataset, source=path), dict(dataset.attrs)
    except (FileNotFoundError, ModelFileError) as exc:
        raise CLIError(str(exc), EXIT_MODEL) from None


def run(args):
    """Run ``daskmix info``.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
        The exit code, 0.
    """
    model, attrs = load_model_file(args.model)
    if args.json:
        print(json.dumps({
            "path": args.model,
            "estimator": attrs["estimator"],
            "format": attrs["daskmix_format"],
            "format_version": int(attrs["daskmix_format_version"]),
            "daskmix_version": attrs["daskmix_version"],
            "parameters": json.loads(attrs["params"]),
            "fitted": json.loads(attrs["fitted"]),
        }, indent=2))
        return 0
    storage = "zarr store" if is_zarr_path(args.model) else "netCDF-4 file"
    print(f"daskmix info: {args.model}")
    print(lines([("file", (f"{storage}, {attrs['daskmix_format']} format version "
                          f"{int(attrs['daskmix_format_version'])}, written by daskmix "
                          f"{attrs['daskmix_version']}"))] + model_lines(model)))
    print("\n" + "\n".join(component_table(model)))
    return 0
