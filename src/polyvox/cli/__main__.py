"""``python -m polyvox.cli``: the ``polyvox`` command without its console script."""

from polyvox.cli.main import app

app()
