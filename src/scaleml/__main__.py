"""``python -m scaleml``: the same as the ``scaleml`` command."""

from .cli import main

main()
