"""``daskmix predict MODEL INPUT OUTPUT``: apply a saved model to a data file.

The result (labels, probabilities, log-likelihoods or projections) is
computed chunk by chunk straight into OUTPUT.
"""

from __future__ import annotations

import contextlib
import sys

from daskmix._dask.scheduler import local_progress_bar
from daskmix._progress import LineStream, is_terminal
from daskmix.cli._common import (
    HelpFormatter,
    add_input_options,
    add_progress_option,
    add_scheduler_options,
    lines,
    progress_enabled,
)
from daskmix.cli._errors import EPILOG, EXIT_DATA, EXIT_USAGE, CLIError
from daskmix.cli._inputs import describe, open_input
from daskmix.cli._outputs import OUTPUT_FORMATS, output_format, write_output
from daskmix.cli._scheduler import connect
from daskmix.cli.info import load_model_file

__all__ = ["add_parser", "run"]

#: Methods ``--what`` may name, and the column name of their output.
METHODS = {
    "predict": "label",
    "predict_proba": "proba",
    "score_samples": "log_likelihood",
    "transform": "component",
}


def add_parser(commands):
    """Add the ``predict`` subcommand.

    Parameters
    ----------
    commands : argparse._SubParsersAction
    """
    parser = commands.add_parser(
        "predict",
        help="apply a saved model to a data file",
        description=(
            "Load MODEL, apply it to INPUT chunk by chunk and write the result to "
            "OUTPUT (.npy, .zarr, .parquet or .csv), one row per input row."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a model saved by daskmix fit or "
                                                       "estimator.save()")
    parser.add_argument("input", metavar="INPUT", help="the data, as for daskmix fit")
    parser.add_argument("output", metavar="OUTPUT",
                        help="where to write the result; replaced atomically if it exists")
    parser.add_argument("--what", choices=sorted(METHODS), default=None,
                        help="what to compute: component labels (predict, the default "
                             "for mixtures and k-means), probabilities (predict_proba), "
                             "log-likelihoods (score_samples) or projections (transform, "
                             "the default for PCA)")
    parser.add_argument("--inference", choices=["auto", "truncated", "exact"], default=None,
                        help="for a Gaussian mixture: evaluate each row's truncated search "
                             "space or every component (default: the model's own setting, "
                             "'auto': truncated after a truncated fit); truncated "
                             "probabilities are written dense, zero outside each row's "
                             "n_active components")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default=None,
                        help="format of OUTPUT (default: from its name)")
    add_input_options(parser)
    add_scheduler_options(parser)
    add_progress_option(parser)
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an unexpected error")
    parser.set_defaults(run=run, parser=parser)


def _method(model, what):
    """The method to apply, checked against the model.

    Parameters
    ----------
    model : BaseEstimator
    what : str or None

    Returns
    -------
    str
    """
    if what is None:
        return "predict" if hasattr(model, "predict") else "transform"
    if not hasattr(model, what):
        offered = [m for m in sorted(METHODS) if hasattr(model, m)]
        raise CLIError(f"a {type(model).__name__} has no {what}; choose --what from "
                       f"{', '.join(offered)}", EXIT_USAGE)
    return what


def _progress(enabled, scheduler):
    """dask's progress bar, on stderr, for the local scheduler when enabled.

    On a terminal the bar is redrawn in place; elsewhere (a log) it becomes
    a line every few seconds (:class:`daskmix._progress.LineStream`).

    Parameters
    ----------
    enabled : bool
    scheduler : str or None
        A distributed scheduler's address: its dashboard shows the progress.

    Returns
    -------
    context manager
    """
    if not enabled or scheduler is not None:
        return contextlib.nullcontext()
    return local_progress_bar(sys.stderr if is_terminal(sys.stderr) else LineStream(sys.stderr))


def run(args):
    """Run ``daskmix predict``.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
        The exit code, 0.
    """
    model, _ = load_model_file(args.model, lazy=True)  # a sharded model predicts by blocks
    what = _method(model, args.what)
    if args.inference is not None:
        if "inference" not in model.get_params():
            raise CLIError(f"a {type(model).__name__} has no --inference; leave it out",
                           EXIT_USAGE)
        model.set_params(inference=args.inference)
    fmt = output_format(args.output, args.output_format)
    X = open_input(args)
    with connect(args.scheduler, args.connect_timeout):
        try:
            result = getattr(model, what)(X)
        except (ValueError, TypeError) as exc:
            raise CLIError(str(exc), EXIT_DATA) from None
        column = METHODS[what]
        if what == "transform" and hasattr(model, "cluster_centers_"):
            column = "distance"
        with _progress(progress_enabled(args), args.scheduler):
            try:
                write_output(result, args.output, fmt, column)
            except ValueError as exc:
                raise CLIError(str(exc), EXIT_DATA) from None
    print(f"daskmix predict: {what} of {type(model).__name__} from {args.model}")
    print(lines([("input", describe(X)), ("output", (f"{args.output} ({fmt}, shape "
                                                    f"{tuple(result.shape)}, {result.dtype})"))]))
    return 0
