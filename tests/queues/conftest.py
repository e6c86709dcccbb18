"""Every queue backend passes the same tests: a backend adds itself to `BACKENDS`.

The cluster backends (SQS + S3) run against a real AWS emulator (moto's server on loopback); the
worker subprocesses of the tests find it through the AWS_* variables set here."""

from __future__ import annotations

import uuid

import pytest

AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _sqlite(request, tmp_path):
    url = f"sqlite://{tmp_path / 'q.db'}"
    return url, url


def _aws(request, tmp_path):
    """A fresh FIFO queue (+ dead-letter queue) and a fresh prefix, made as the deploy makes them."""
    from mlserve.queues.aws import client
    from mlserve.queues.s3 import ensure_bucket
    from mlserve.queues.sqs import create_queues

    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("AWS_ENDPOINT_URL", request.getfixturevalue("moto_url"))
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    name = f"test-{uuid.uuid4().hex[:12]}"
    create_queues(client("sqs"), f"{name}.fifo", max_receives=5)
    ensure_bucket(client("s3"), "results", "us-east-1")
    return f"sqs://{name}.fifo", f"s3://results/{name}"


BACKENDS = {"sqlite": _sqlite, "sqs+s3": _aws}


@pytest.fixture(params=sorted(BACKENDS))
def urls(request, tmp_path):
    """(queue url, results url) of a fresh queue of each backend."""
    return BACKENDS[request.param](request, tmp_path)
