"""Helpers every ``daskmix`` subcommand shares: option types, option groups, output lines."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import urllib.parse
import urllib.request

__all__ = [
    "INPUT_FORMATS",
    "HelpFormatter",
    "add_input_options",
    "add_progress_option",
    "add_scheduler_options",
    "close_match",
    "int_at_least",
    "int_list",
    "is_url",
    "lines",
    "local_path",
    "positive_float",
    "progress_enabled",
    "unknown_option_message",
]

#: Input formats ``--format`` accepts.
INPUT_FORMATS = ("npy", "zarr", "parquet", "csv")

#: An argument that argparse reads as a (negative) number, not as an option.
_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+(e[+-]?\d+)?$", re.IGNORECASE)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Each option's default in its help, once; the exit-code epilogue as written.

    argparse's ``ArgumentDefaultsHelpFormatter`` appends ``(default: ...)``
    to every option. This one leaves out what says nothing or is said
    already: required options, options whose default is None or False
    (absent), and help that states its default in its own words.
    """

    def _get_help_string(self, action):
        """The help of ``action``, with ``(default: %(default)s)`` where it is news."""
        text = action.help or ""
        if (action.required or action.default is None or action.default is False
                or "(default" in text):
            return text
        return super()._get_help_string(action)


def close_match(word, candidates):
    """The candidate ``word`` most likely is a misspelling of, or None.

    Parameters
    ----------
    word : str
    candidates : iterable of str

    Returns
    -------
    str or None
        From :func:`difflib.get_close_matches` (similarity at least 0.6).
    """
    matches = difflib.get_close_matches(word, list(candidates), n=1)
    return matches[0] if matches else None


def _is_unknown_option(token, options):
    """Whether argparse would read ``token`` as an option that ``options`` lacks.

    Parameters
    ----------
    token : str
        One command-line argument.
    options : collection of str
        The option strings of the command (``-k``, ``--components``, ...).

    Returns
    -------
    bool
        False for positional arguments, negative numbers, known options,
        their unambiguous abbreviations (``--comp``) and ``--opt=value``.
    """
    if not token.startswith("-") or token == "-" or " " in token or _NUMBER.match(token):
        return False
    if token.startswith("--"):
        name = token.split("=", 1)[0]
        return not any(option.startswith(name) for option in options
                       if option.startswith("--"))
    return token[:2] not in options  # a short option, maybe with its value (-k3)


def unknown_option_message(args, options):
    """The error for the first option in ``args`` that is not among ``options``, or None.

    Parameters
    ----------
    args : list of str
        The arguments after the subcommand's name.
    options : collection of str
        The subcommand's option strings.

    Returns
    -------
    str or None
        ``"unrecognized option --n-compnents; did you mean --n-components?"``;
        None when every option is known. Arguments after ``--`` are
        positional and not checked.
    """
    for token in args:
        if token == "--":
            return None
        if _is_unknown_option(token, options):
            name = token.split("=", 1)[0]
            guess = next((o for o in options if o.lower() == name.lower()), None) or \
                close_match(name, [o for o in options if o.startswith("--")])
            hint = f"did you mean {guess}?" if guess else "see --help for the options"
            return f"unrecognized option {name}; {hint}"
    return None


def int_at_least(minimum):
    """An argparse ``type`` accepting integers ``>= minimum``.

    Parameters
    ----------
    minimum : int

    Returns
    -------
    callable
        ``parse(text) -> int``; raises ``argparse.ArgumentTypeError``.
    """

    def parse(text):
        """The integer in ``text``, checked."""
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def positive_float(text):
    """An argparse ``type`` accepting floats ``>= 0``.

    Parameters
    ----------
    text : str

    Returns
    -------
    float
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def int_list(text):
    """An argparse ``type`` for ``4``, ``2,4,8`` or ``1-6`` (integers >= 1).

    Parameters
    ----------
    text : str

    Returns
    -------
    list of int
        Distinct, in the order given.
    """
    values = []
    for part in text.split(","):
        bounds = part.strip().split("-")
        try:
            numbers = [int(b) for b in bounds]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected integers like 4, 2,4,8 or 1-6, got {text!r}"
            ) from None
        if len(numbers) == 2 and numbers[0] <= numbers[1]:
            numbers = list(range(numbers[0], numbers[1] + 1))
        elif len(numbers) != 1:
            raise argparse.ArgumentTypeError(f"expected a range like 1-6, got {part!r}")
        values.extend(n for n in numbers if n not in values)
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return values


def add_input_options(parser):
    """Options describing how to read INPUT.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    """
    group = parser.add_argument_group("input")
    group.add_argument("--format", choices=INPUT_FORMATS, default=None,
                       help="format of INPUT (default: from its name: .npy, .zarr, "
                            ".parquet or .pq, .csv)")
    group.add_argument("--columns", type=lambda text: [c.strip() for c in text.split(",")],
                       default=None, metavar="A,B,...",
                       help="parquet and csv: the feature columns (default: all, which "
                            "must then be numeric)")
    group.add_argument("--array", default=None, metavar="NAME",
                       help="zarr: the array inside a group store")
    group.add_argument("--chunk-rows", type=int_at_least(1), default=None, metavar="N",
                       help="npy and zarr: rows per dask chunk (default: the store's "
                            "chunks for zarr, about 4 chunks per core for npy); parquet "
                            "and csv keep their partitions")


def add_scheduler_options(parser):
    """``--scheduler`` and ``--connect-timeout``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    """
    group = parser.add_argument_group("scheduler")
    group.add_argument("--scheduler", default=os.environ.get("DASK_SCHEDULER_ADDRESS"),
                       metavar="ADDRESS",
                       help="address of a running Dask distributed scheduler, e.g. "
                            "tcp://10.0.0.5:8786 (default: $DASK_SCHEDULER_ADDRESS if "
                            "set, as dask-kubernetes' DaskJob sets it; else the local "
                            "threaded scheduler)")
    group.add_argument("--connect-timeout", type=positive_float, default=10.0,
                       metavar="SECONDS", help="how long to try to reach the scheduler")


def add_progress_option(parser):
    """``--progress`` / ``--no-progress``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    """
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="report progress on stderr: a bar on a terminal, "
                             "else a plain line every few seconds (default: on when "
                             "stderr is a terminal)")


def progress_enabled(args):
    """Whether to draw a progress bar.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    bool
    """
    return sys.stderr.isatty() if args.progress is None else args.progress


def local_path(text):
    """``text`` with a ``file://`` URL turned into the local path it names.

    Parameters
    ----------
    text : str
        A path or a URL.

    Returns
    -------
    str
        ``file:///data/x.npy`` gives ``/data/x.npy``; anything else is
        returned as it is.
    """
    if text.lower().startswith("file://"):
        return urllib.request.url2pathname(urllib.parse.urlsplit(text).path)
    return text


def is_url(text):
    """Whether ``text`` is a URL of a remote store (``s3://``, ``gs://``, ``https://``, ...).

    ``file://`` URLs are not remote: pass them through :func:`local_path` first.

    Parameters
    ----------
    text : str

    Returns
    -------
    bool
    """
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").isalnum()


def lines(pairs):
    """Aligned ``label: value`` lines.

    Parameters
    ----------
    pairs : list of (str, object)

    Returns
    -------
    str
    """
    width = max(len(label) for label, _ in pairs) + 1
    return "\n".join(f"  {label + ':':<{width}} {value}" for label, value in pairs)
