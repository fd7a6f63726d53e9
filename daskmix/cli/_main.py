"""The ``daskmix`` command: its parser, and errors turned into exit codes."""

from __future__ import annotations

import argparse
import os
import sys

from daskmix._version import __version__
from daskmix.cli import demo, fit, info, predict
from daskmix.cli._common import unknown_option_message
from daskmix.cli._errors import (
    EPILOG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
)

__all__ = ["build_parser", "main"]


def _build():
    """The ``daskmix`` argument parser, and its subcommands' parsers by name.

    Returns
    -------
    parser : argparse.ArgumentParser
    commands : dict of str to argparse.ArgumentParser
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
    return parser, dict(commands.choices)


def build_parser():
    """The ``daskmix`` argument parser with its subcommands.

    Returns
    -------
    argparse.ArgumentParser
    """
    return _build()[0]


def _check_options(commands, argv):
    """Exit with status 2 on an option the subcommand does not have, naming the closest one.

    argparse alone would report a missing required option first, or the
    top-level usage with no suggestion (Python 3.14's ``suggest_on_error``
    does not cover options, and daskmix supports Python 3.11).

    Parameters
    ----------
    commands : dict of str to argparse.ArgumentParser
    argv : list of str
    """
    for position, token in enumerate(argv):
        if token.startswith("-"):
            continue  # --help, --version: the top-level parser handles them
        command = commands.get(token)
        if command is not None:
            # argparse has no public list of a parser's options
            options = {o for action in command._actions for o in action.option_strings}
            message = unknown_option_message(argv[position + 1:], options)
            if message is not None:
                command.error(message)
        return


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
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = _build()
    _check_options(commands, argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the subcommand, with its usage
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
