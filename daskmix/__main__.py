"""``python -m daskmix``: the same as the ``daskmix`` command."""

from daskmix.cli import main

raise SystemExit(main())
