"""The ``daskmix`` command: its parser, and errors turned into exit codes."""

from __future__ import annotations

import argparse
import os
import sys

from daskmix._version import __version__
from daskmix.cli import demo, fit, info, predict
from daskmix.cli._errors import (
    EPILOG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
)

__all__ = ["build_parser", "main"]


def build_parser():
    """The ``daskmix`` argument parser with its subcommands.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="daskmix",
        description="Gaussian mixture models on Dask with scikit-learn's API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"daskmix {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (fit, predict, info, demo):
        command.add_parser(commands)
    return parser


def _one_line(text):
    """``text`` on one line, for an error message a shell user reads.

    Parameters
    ----------
    text : object

    Returns
    -------
    str
    """
    return " ".join(str(text).split())


def main(argv=None):
    """Entry point of the ``daskmix`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code (see ``daskmix --help``). Invalid options exit with
        status 2 through argparse (``SystemExit``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    check = getattr(args, "check", None)
    if check is not None:
        check(args)
    try:
        return args.run(args)
    except CLIError as exc:
        if exc.code == EXIT_USAGE:
            args.parser.error(_one_line(exc))
        print(f"daskmix {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:  # the reader went away (daskmix info | head): not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (Python flushes it at exit)
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"daskmix {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if getattr(args, "traceback", False):
            raise
        print(f"daskmix {args.command}: error: {type(exc).__name__}: {_one_line(exc)} "
              "(rerun with --traceback for details)", file=sys.stderr)
        return EXIT_FAILURE
