"""Exit codes of the ``daskmix`` command, and the error that carries one."""

from __future__ import annotations

__all__ = [
    "EPILOG",
    "EXIT_DATA",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_MODEL",
    "EXIT_OK",
    "EXIT_SCHEDULER",
    "EXIT_USAGE",
    "CLIError",
]

#: Success.
EXIT_OK = 0
#: The command failed for a reason not listed below (a failed computation).
EXIT_FAILURE = 1
#: Invalid options or option values (argparse's own code): an unknown option, a
#: bad value, a ``--columns`` name INPUT lacks, a MODEL name that is not a model
#: format, an algorithm that needs ``--scheduler`` without it.
EXIT_USAGE = 2
#: The input data or the output path: missing, unreadable, or invalid data
#: (NaN, non-numeric columns, too few rows, features that do not match the model).
EXIT_DATA = 3
#: The model file: missing, truncated, corrupted, or of a newer format.
EXIT_MODEL = 4
#: The Dask scheduler given with ``--scheduler`` cannot be reached.
EXIT_SCHEDULER = 5
#: Interrupted (Ctrl-C), as shells report SIGINT.
EXIT_INTERRUPTED = 130

#: The exit codes, for the ``--help`` epilogues.
EPILOG = """\
exit codes:
  0    success
  1    the computation failed (rerun with --traceback for details)
  2    invalid options: an unknown option (the closest one is suggested), a bad
       value, a --columns name INPUT lacks, a MODEL not ending in .nc or .zarr,
       an --algorithm that needs --scheduler without it
  3    input or output problem: missing or unreadable file, invalid data
       (NaN, non-numeric columns, too few rows, features the model does not have)
  4    model file problem: missing, truncated, corrupted, or from a newer daskmix
  5    the Dask scheduler given with --scheduler cannot be reached
  130  interrupted
"""


class CLIError(Exception):
    """An error the command reports in one line, with its exit code.

    Parameters
    ----------
    message : str
        What went wrong and how to fix it.
    code : int
        One of the ``EXIT_*`` codes.
    """

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code
