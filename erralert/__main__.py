"""``python -m erralert``: the ``erralert`` command."""

from erralert.cli import main

raise SystemExit(main())
