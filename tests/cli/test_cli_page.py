"""An API with `networking.static` deployed locally: deploy and get show the page's URL, the
page is served next to the API, and editing the page restarts the API on the next deploy."""

from __future__ import annotations

import httpx
import pytest
from cli_harness import invoke
from local_harness import edit_spec, project_copy
from loopback import free_port

pytestmark = pytest.mark.timeout(180)


def test_deploy_and_get_show_the_page_url_and_the_page_is_served(tmp_path):
    with project_copy(tmp_path / "project") as folder:
        (folder / "web").mkdir()
        (folder / "web" / "index.html").write_text("<!doctype html><p>first</p>")
        spec = folder / "cortex.yaml"
        # Ports of their own: parallel deploys on one machine can pick the same lowest free port.
        edit_spec(spec, lambda apis: [apis[0].update(networking={"local_port": free_port()}),
                                      apis[1].update(networking={"static": "web", "local_port": free_port()})])
        result = invoke("deploy", str(spec))
        assert result.exit_code == 0, result.output
        pages = [line for line in result.stdout.splitlines() if line.startswith("page of ")]
        assert len(pages) == 1 and pages[0].startswith("page of echo: http://127.0.0.1:"), result.stdout
        page = pages[0].split(": ", 1)[1]
        assert page.endswith("/echo/")

        answer = httpx.get(page, timeout=30)
        assert answer.status_code == 200 and answer.text == "<!doctype html><p>first</p>"
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert httpx.post(page.rstrip("/"), json={"a": 1}, timeout=30).status_code == 200

        detail = invoke("get", "echo", "--spec", str(spec)).stdout
        assert any(line.split() == ["page", page] for line in detail.splitlines()), detail
        assert "page" not in invoke("get", "greet", "--spec", str(spec)).stdout.split("spec")[0]

        (folder / "web" / "index.html").write_text("<!doctype html><p>second</p>")
        again = invoke("deploy", str(spec))
        actions = {line.split()[0]: line.split()[1] for line in again.stdout.splitlines()[1:3]}
        assert actions == {"greet": "unchanged", "echo": "updated"}, again.stdout
        assert httpx.get(page, timeout=30).text == "<!doctype html><p>second</p>"
