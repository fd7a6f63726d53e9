"""The ``daskmix`` command line: ``fit``, ``predict``, ``info`` and ``demo``."""

from daskmix.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
