"""``daskmix fit INPUT``: fit a Gaussian mixture to a data file and save the model.

With one ``--components`` value and one ``--covariance-type`` it fits that
``GaussianMixture``; with several it fits them all together and keeps the
best by ``--criterion`` (``daskmix.mixture.select_model``), printing the
table of scores. ``--bayesian`` fits a ``BayesianGaussianMixture`` instead
(one model: the prior on the weights chooses the effective number of
components).
"""

from __future__ import annotations

import argparse
import os
import time

from daskmix import BayesianGaussianMixture, GaussianMixture
from daskmix.cli._common import (
    HelpFormatter,
    add_input_options,
    add_progress_option,
    add_scheduler_options,
    int_at_least,
    int_list,
    is_url,
    lines,
    local_path,
    positive_float,
    progress_enabled,
)
from daskmix.cli._errors import EPILOG, EXIT_DATA, EXIT_USAGE, CLIError
from daskmix.cli._inputs import describe, open_input
from daskmix.cli._scheduler import connect
from daskmix.cli._summary import component_table, model_lines
from daskmix.exceptions import NoClientError
from daskmix.mixture import select_model, variational
from daskmix.mixture.algorithms import ALGORITHMS, get_algorithm
from daskmix.mixture.covariance import COVARIANCE_TYPES

__all__ = ["MODEL_SUFFIXES", "add_parser", "run"]

#: Endings of MODEL: a netCDF-4 file or a zarr store (``estimator.save`` takes
#: any other name as netCDF; the command refuses it, so that ``-o model.txt``
#: is not silently a netCDF file).
MODEL_SUFFIXES = {".nc": "a netCDF-4 file", ".zarr": "a zarr store"}

#: Options that set parameters only some algorithms read: parameter -> option.
_ALGORITHM_OPTIONS = {"batch_size": "--batch-size", "checkpoint_path": "--checkpoint"}


def _choices(parameter, estimators=(GaussianMixture, BayesianGaussianMixture)):
    """The string values the mixture estimators accept for ``parameter``, now.

    Read from their parameter constraints at run time, so that a new
    algorithm or initialisation is offered as soon as an estimator has it.

    Parameters
    ----------
    parameter : str
    estimators : tuple of type
        The estimators whose values are pooled.

    Returns
    -------
    list of str
    """
    options = set()
    for estimator in estimators:
        for constraint in estimator._parameter_constraints.get(parameter, ()):
            options |= set(getattr(constraint, "options", ()))
    return sorted(options)


def _covariance_list(text):
    """An argparse ``type`` for ``full`` or ``full,diag``.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str
    """
    values = []
    for value in (v.strip() for v in text.split(",")):
        if value not in COVARIANCE_TYPES:
            raise argparse.ArgumentTypeError(
                f"invalid covariance type {value!r} (choose from "
                f"{', '.join(sorted(COVARIANCE_TYPES))})"
            )
        if value not in values:
            values.append(value)
    return values


def add_parser(commands):
    """Add the ``fit`` subcommand.

    Parameters
    ----------
    commands : argparse._SubParsersAction
    """
    parser = commands.add_parser(
        "fit",
        help="fit a Gaussian mixture to a data file and save the model",
        description=(
            "Fit daskmix.GaussianMixture to INPUT, read lazily chunk by chunk, and save "
            "the model. Give several --components or --covariance-type values to fit "
            "them all together and keep the best by --criterion."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("input", metavar="INPUT",
                        help="the data: a .npy file, a zarr store, or parquet or CSV "
                             "files (a glob pattern such as 'part-*.csv' is allowed); a "
                             "local path, a file:// URL, or for zarr, parquet and CSV "
                             "the URL of object storage (s3://, gs://, https://, ...; "
                             "needs the matching fsspec backend, e.g. s3fs)")
    parser.add_argument("-o", "--output", metavar="MODEL", default=None,
                        help="where to save the model: a netCDF file (.nc) or a zarr "
                             "store (.zarr), on a local path or file:// URL (mount a "
                             "volume, or copy the file to object storage afterwards); "
                             "with --bayesian --algorithm esvi, a .zarr MODEL is written "
                             "by the workers, block by block (model_store: a path every "
                             "worker can write) "
                             "(default: INPUT's name + .model.nc, in the current "
                             "directory)")
    model = parser.add_argument_group("model")
    model.add_argument("-k", "--components", "--n-components", type=int_list, required=True,
                       metavar="K", dest="components",
                       help="number of components (n_components): 4, a list 2,4,8 or a "
                            "range 1-8")
    model.add_argument("--covariance-type", type=_covariance_list, default="full",
                       metavar="TYPE",
                       help=f"one of {', '.join(sorted(COVARIANCE_TYPES))}, or a list")
    model.add_argument("--n-factors", type=int_at_least(1), default=None, metavar="H",
                       help="factors per component (needed by --covariance-type factor)")
    model.add_argument("--bayesian", action="store_true",
                       help="fit a BayesianGaussianMixture (variational inference with a "
                            "Dirichlet-process prior on the weights): K is an upper bound, "
                            "the data switch off the components they do not need")
    model.add_argument("--weight-concentration-prior-type", default="dirichlet_process",
                       choices=_choices("weight_concentration_prior_type"),
                       help="--bayesian: the prior on the weights")
    model.add_argument("--weight-concentration-prior", type=positive_float, default=None,
                       metavar="GAMMA",
                       help="--bayesian: its concentration (default 1/K; smaller values "
                            "use fewer components)")
    model.add_argument("--criterion", choices=["bic", "aic"], default="bic",
                       help="how to pick among several candidates (lower is better)")
    model.add_argument("--algorithm", choices=_choices("algorithm"), default="em",
                       help="exact EM, mini-batch (stepwise) EM, truncated variational EM "
                            "(cost per row independent of K), or asynchronous EM "
                            "(needs --scheduler); with --bayesian: batch, stochastic "
                            "(minibatch) or truncated variational inference")
    model.add_argument("--batch-size", type=int_at_least(1), default=None, metavar="N",
                       help="rows per mini-batch update (--algorithm minibatch)")
    model.add_argument("--init-params", choices=_choices("init_params"), default="kmeans",
                       help="initialisation method")
    model.add_argument("--n-init", type=int_at_least(1), default=1, metavar="N",
                       help="initialisations; the best is kept")
    model.add_argument("--max-iter", type=int_at_least(0), default=100, metavar="N",
                       help="maximum EM iterations (passes for minibatch)")
    model.add_argument("--tol", type=positive_float, default=1e-3,
                       help="convergence threshold on the lower bound")
    model.add_argument("--reg-covar", type=positive_float, default=1e-6,
                       help="added to the diagonal of covariances")
    model.add_argument("--covariance-floor", type=positive_float, default=None,
                       metavar="S2",
                       help="known isotropic noise variance of the rows: every covariance "
                            "is kept at least S2 times the identity (covariance_floor)")
    model.add_argument("--random-state", type=int_at_least(0), default=0, metavar="SEED",
                       help="seed of the initialisation (results do not depend on the "
                            "chunking or the scheduler)")
    model.add_argument("--checkpoint", default=None, metavar="PATH",
                       help="--algorithm minibatch: save the fit's state to PATH as it "
                            "goes, and resume from it if it exists")
    add_input_options(parser)
    add_scheduler_options(parser)
    add_progress_option(parser)
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an unexpected error")
    parser.set_defaults(run=run, parser=parser)


def _default_output(path):
    """``INPUT``'s name without its suffix, plus ``.model.nc``, in the current directory.

    Parameters
    ----------
    path : str
        INPUT, possibly a glob pattern.

    Returns
    -------
    str
    """
    name = os.path.basename(path.rstrip("/\\")) or "model"
    for suffix in (".csv.gz", ".csv.bz2", ".csv.xz", ".npy", ".zarr", ".parquet", ".pq",
                   ".csv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = name.replace("*", "").strip(".-_") or "model"
    return f"{name}.model.nc"


def _check_model_suffix(path):
    """Raise unless MODEL ``path`` ends in one of :data:`MODEL_SUFFIXES`.

    Parameters
    ----------
    path : str

    Raises
    ------
    CLIError
        ``EXIT_USAGE``, naming the endings accepted.
    """
    if path.rstrip("/\\").endswith(tuple(MODEL_SUFFIXES)):
        return
    accepted = " or ".join(f"{suffix} ({what})" for suffix, what in MODEL_SUFFIXES.items())
    raise CLIError(f"-o/--output {path}: a model is saved as {accepted}; end MODEL in "
                   f"{' or '.join(MODEL_SUFFIXES)}", EXIT_USAGE)


def _estimator_params(args):
    """``GaussianMixture`` parameters from the options (all but the grid).

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    dict
    """
    params = dict(
        init_params=args.init_params, n_init=args.n_init, max_iter=args.max_iter,
        tol=args.tol, reg_covar=args.reg_covar, random_state=args.random_state,
        progress=progress_enabled(args),
    )
    if args.bayesian:
        return _bayesian_params(args, params)
    params.update(n_factors=args.n_factors, covariance_floor=args.covariance_floor)
    if "factor" in args.covariance_type and args.n_factors is None:
        raise CLIError("--covariance-type factor needs --n-factors H, the number of factors "
                       "per component (1 <= H < the number of features)", EXIT_USAGE)
    algorithm = get_algorithm(args.algorithm)
    given = {name: value
             for name, value in (("batch_size", args.batch_size),
                                 ("checkpoint_path", args.checkpoint))
             if value is not None}
    if any(name not in algorithm.parameters for name in given):
        readers = sorted(a.name for a in ALGORITHMS.values()
                         if a.parameters.issuperset(_ALGORITHM_OPTIONS))
        raise CLIError(f"{' and '.join(_ALGORITHM_OPTIONS.values())} need --algorithm "
                       f"{' or '.join(readers)}", EXIT_USAGE)
    params.update(algorithm=args.algorithm, **given)
    return params


def _bayesian_params(args, params):
    """``BayesianGaussianMixture`` parameters: ``params`` plus the options it reads.

    Parameters
    ----------
    args : argparse.Namespace
    params : dict
        The parameters both mixtures read.

    Returns
    -------
    dict

    Raises
    ------
    CLIError
        ``EXIT_USAGE`` for an option the Bayesian mixture has no use for.
    """
    for given, option in ((args.checkpoint, "--checkpoint"), (args.n_factors, "--n-factors"),
                          (args.covariance_floor, "--covariance-floor")):
        if given is not None:
            raise CLIError(f"{option} is not supported with --bayesian", EXIT_USAGE)
    if len(args.components) > 1 or len(args.covariance_type) > 1:
        raise CLIError("--bayesian fits one model: give one --components value (an upper "
                       "bound: the prior switches off the components the data do not "
                       "need) and one --covariance-type", EXIT_USAGE)
    try:
        algorithm = variational.get_algorithm(args.algorithm)
    except ValueError as exc:
        raise CLIError(f"--bayesian: {exc}", EXIT_USAGE) from None
    if args.batch_size is not None and "batch_size" not in algorithm.parameters:
        readers = sorted(a.name for a in variational.ALGORITHMS.values()
                         if "batch_size" in a.parameters)
        raise CLIError(f"--batch-size needs --algorithm {' or '.join(readers)}", EXIT_USAGE)
    params.update(algorithm=args.algorithm, batch_size=args.batch_size,
                  weight_concentration_prior_type=args.weight_concentration_prior_type,
                  weight_concentration_prior=args.weight_concentration_prior)
    return params


def _model_store(args, output):
    """``{"model_store": output}`` when the fit writes its own model, else ``{}``.

    A Bayesian fit whose algorithm writes its fitted blocks from the workers
    (``model_store``: ESVI) writes a zarr MODEL that way, so that this
    process never holds the whole model.

    Parameters
    ----------
    args : argparse.Namespace
    output : str
        MODEL, a local path.

    Returns
    -------
    dict
    """
    if not args.bayesian or not output.rstrip("/").endswith(".zarr"):
        return {}
    try:
        algorithm = variational.get_algorithm(args.algorithm)
    except ValueError:
        return {}  # refused with the other options
    return {"model_store": output} if "model_store" in algorithm.parameters else {}


def _fit(X, args, params):
    """Fit one model, or select among several; return it and the score table (or None).

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
    args : argparse.Namespace
    params : dict

    Returns
    -------
    model : GaussianMixture or BayesianGaussianMixture
    scores : pandas.DataFrame or None
    """
    grid = len(args.components) > 1 or len(args.covariance_type) > 1
    if grid and not get_algorithm(args.algorithm).lockstep:
        raise CLIError("several --components or --covariance-type values are fitted by "
                       "exact EM; drop --algorithm, or fit one model", EXIT_USAGE)
    estimator = BayesianGaussianMixture if args.bayesian else GaussianMixture
    model = estimator(args.components[0], covariance_type=args.covariance_type[0], **params)
    try:
        model._validate_params()
    except ValueError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None
    try:
        if grid:
            return select_model(X, args.components, args.covariance_type,
                                criterion=args.criterion, **params)
        return model.fit(X), None
    except NoClientError:
        raise CLIError(f"--algorithm {args.algorithm} runs on a Dask distributed cluster: "
                       "pass --scheduler ADDRESS (a running scheduler, e.g. "
                       "tcp://10.0.0.5:8786), or set DASK_SCHEDULER_ADDRESS",
                       EXIT_USAGE) from None
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc), EXIT_DATA) from None


def run(args):
    """Run ``daskmix fit``.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
        The exit code, 0.
    """
    output = local_path(args.output or _default_output(args.input))
    _check_model_suffix(output)
    if is_url(output):
        raise CLIError(
            f"--output must be a local path or a file:// URL, not {output}: daskmix "
            "writes the model file on this machine (in a Kubernetes Job, a mounted "
            "volume); copy it to object storage afterwards if needed",
            EXIT_USAGE,
        )
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise CLIError(f"the directory of MODEL ({directory}) does not exist; create it "
                       "first", EXIT_DATA)
    params = dict(_estimator_params(args), **_model_store(args, output))
    X = open_input(args)
    with connect(args.scheduler, args.connect_timeout):
        start = time.perf_counter()
        model, scores = _fit(X, args, params)
        seconds = time.perf_counter() - start
    if params.get("model_store") is None:  # else the fit wrote it
        try:
            model.save(output)
        except (OSError, ValueError) as exc:
            raise CLIError(f"cannot save the model to {output} ({exc})", EXIT_DATA) from None
    print(f"daskmix fit: {args.input}")
    print(lines([("input", describe(X)), ("model", output), ("time", f"{seconds:.1f} s")]
                + model_lines(model)))
    if scores is not None:
        print(f"\ncandidates (lowest {args.criterion} selected):")
        print(scores.to_string(index=False))
    print("\n" + "\n".join(component_table(model)))
    return 0
