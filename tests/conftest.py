"""Shared test setup: never reach for a model hub (a failed lookup costs ~50 s of retries); an AWS emulator."""

import os
import subprocess
import sys
import time

import httpx
import pytest
from loopback import free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def moto_url():
    """A real AWS emulator (moto's server) on a free 127.0.0.1 port, for the S3/ECR/EKS tests."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded machine takes a while to import moto
        while True:
            assert proc.poll() is None, "moto server exited"
            try:
                httpx.get(f"{url}/moto-api/data.json", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
