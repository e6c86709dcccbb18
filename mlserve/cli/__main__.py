"""`python -m mlserve.cli ...` is the same as `mlserve ...`."""

from mlserve.cli.app import app

app()
