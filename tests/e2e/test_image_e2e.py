"""The serving image, built by the real Docker engine and pushed to a real registry."""

from __future__ import annotations

import httpx
import pytest

from mlserve.image.builder import Registry, docker_client, ensure_image
from mlserve.spec import load_project

pytestmark = pytest.mark.e2e


def test_image_contents_and_no_rebuild(registry_address, base_image, project):
    base, root = base_image, project
    (root / "requirements.txt").write_text("humanize==4.9.0\n")  # the project's own packages go in too
    registry = Registry(registry_address, "mlserve-image-test")
    messages: list[str] = []
    ref = ensure_image(load_project(root), base, registry, messages.append)
    tag = ref.rsplit(":", 1)[1]
    assert tag in httpx.get(f"http://{registry.prefix}/v2/mlserve-image-test/tags/list").json()["tags"]

    check = (
        "import importlib.util as u, os; import mlserve.runtime.server, fastapi, uvicorn, prometheus_client, humanize; "
        "print(sorted(m for m in ('typer', 'docker', 'kubernetes', 'boto3', 'torch') if u.find_spec(m))); "
        "print(sorted(os.listdir('/app')))"
    )
    out = docker_client().containers.run(ref, ["-c", check], entrypoint="python", remove=True,
                                         network_mode="none").decode().splitlines()
    assert out[0] == "[]"  # the CLI's packages are not in the image
    assert out[1] == "['.mlserveignore', 'cortex.yaml', 'predictors', 'requirements.txt']"  # no data/

    # unchanged project: nothing is built or pushed again
    messages.clear()
    assert ensure_image(load_project(root), base, registry, messages.append) == ref
    assert messages == [f"image {ref} is up to date in the registry"]
    # an ignored file changes nothing either
    (root / "data" / "more.csv").write_text("1,2\n")
    assert ensure_image(load_project(root), base, registry, messages.append) == ref
