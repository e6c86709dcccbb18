"""Every queue backend passes the same tests: a backend adds itself to `BACKENDS`."""

from __future__ import annotations

import pytest


def _sqlite(tmp_path):
    url = f"sqlite://{tmp_path / 'q.db'}"
    return url, url


BACKENDS = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
def urls(request, tmp_path):
    """(queue url, results url) of a fresh queue of each backend."""
    return BACKENDS[request.param](tmp_path)
