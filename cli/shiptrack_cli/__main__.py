"""``python -m shiptrack_cli``: the same as the ``shiptrack`` console script."""

from shiptrack_cli.main import main

main()
