"""An API's page (networking.static) goes into the serving image and is served from a container."""

from __future__ import annotations

import time

import httpx
import pytest
from loopback import free_port

from mlserve.image.builder import Registry, docker_client, ensure_image
from mlserve.spec import load_project

pytestmark = pytest.mark.e2e


def test_the_image_serves_the_page(registry_address, base_image, project):
    (project / "web").mkdir()
    (project / "web" / "index.html").write_text("<!doctype html><p>compose</p>")
    (project / "web" / "app.js").write_text("console.log(1)")
    spec = project / "cortex.yaml"
    spec.write_text(spec.read_text() + "  networking:\n    static: web\n")
    ref = ensure_image(load_project(project), base_image, Registry(registry_address, "mlserve-static-test"),
                       lambda _: None)
    port = free_port()  # the engine has no bridge network: the container uses the host's
    container = docker_client().containers.run(
        ref, detach=True, network_mode="host",
        environment={"MLSERVE_API": "greeter", "MLSERVE_HOST": "127.0.0.1", "MLSERVE_PORT": str(port)})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the container never became ready:\n" + container.logs().decode())
        page = httpx.get(f"{base}/greeter/", timeout=10)
        assert page.status_code == 200 and page.text == "<!doctype html><p>compose</p>"
        script = httpx.get(f"{base}/greeter/app.js", timeout=10)
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert httpx.post(f"{base}/greeter", json={"name": "x"}, timeout=10).status_code == 200
    finally:
        container.remove(force=True)
