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


def test_deploy_refuses_a_page_link_out_of_the_project_and_serves_no_later_link(tmp_path):
    # The reproduction of a leak: a link to /etc/passwd in the page's folder was copied into the
    # snapshot as a plain file and served with 200. Deploy now refuses it, naming link, target and field.
    with project_copy(tmp_path / "project") as folder:
        site = folder / "web" / "site"
        site.mkdir(parents=True)
        (site / "index.html").write_text("hi")
        (folder / "assets").mkdir()
        (folder / "assets" / "note.txt").write_text("inside the project")
        (site / "passwd").symlink_to("/etc/passwd")
        spec = folder / "cortex.yaml"
        edit_spec(spec, lambda apis: [apis.pop(0), apis[0].update(networking={"static": "web/site",
                                                                            "local_port": free_port()})])
        refused = invoke("deploy", str(spec))
        assert refused.exit_code == 1, refused.output
        assert ("api 'echo': networking.static: 'web/site/passwd' is a symlink to '/etc/passwd'"
                in refused.stderr), refused.stderr
        assert "hint:" in refused.stderr and "inside the project" in refused.stderr

        (site / "passwd").unlink()
        (site / "note.txt").symlink_to(folder / "assets" / "note.txt")  # inside: copied as the file
        result = invoke("deploy", str(spec))
        assert result.exit_code == 0, result.output
        page = next(line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("page of "))
        assert httpx.get(page + "note.txt", timeout=30).text == "inside the project"

        # Made after the deploy: the running API serves its snapshot, which has no such file.
        (site / "passwd").symlink_to("/etc/passwd")
        (site / "late.txt").symlink_to(folder / "assets" / "note.txt")
        for name in ("passwd", "late.txt"):
            answer = httpx.get(page + name, timeout=30)
            assert answer.status_code == 404 and "root:" not in answer.text, answer.text
