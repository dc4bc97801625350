"""``python -m triple_dots`` is the same as the ``triple-dots`` command."""

from triple_dots.cli import main

raise SystemExit(main())
