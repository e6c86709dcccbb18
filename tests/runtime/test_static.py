"""`networking.static`: a folder of files served under the API's endpoint by the real runtime."""

from __future__ import annotations

import http.client
import json
import os

import pytest
from runtime_harness import Runtime, serve_fixture

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("static")
    web = folder / "web"
    (web / "img").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>compose</title>")
    (web / "app.js").write_text("console.log('hi')")
    (web / "style.css").write_text("body{}")
    (web / "data.json").write_text("{}")
    (web / "img" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (web / "img" / "dot.png").write_bytes(PNG)
    (web / ".env").write_text("SECRET=1")
    (folder / "secret.txt").write_text("outside the page folder")
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("outside the project")
    os.symlink(outside, web / "link.txt")
    # Inside the project: served as what it points to, as `deploy` copies it (mlserve/spec/links.py).
    os.symlink(folder / "secret.txt", web / "inside.txt")
    server = serve_fixture(folder, "echo.py", {}, {"networking": {"endpoint": "/compose", "static": "web"}})
    server.wait()
    yield server
    server.stop()


def raw(server: Runtime, method: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """A request with the path sent exactly as given (httpx would normalise '..')."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path, content_type, cache", [
    ("/compose/", "text/html; charset=utf-8", "no-cache"),
    ("/compose/index.html", "text/html; charset=utf-8", "no-cache"),
    ("/compose/app.js", "text/javascript; charset=utf-8", "public, max-age=300"),
    ("/compose/style.css", "text/css; charset=utf-8", "public, max-age=300"),
    ("/compose/data.json", "application/json", "public, max-age=300"),
    ("/compose/img/logo.svg", "image/svg+xml", "public, max-age=300"),
    ("/compose/img/dot.png", "image/png", "public, max-age=300"),
])
def test_files_have_their_content_type_and_caching(page, path, content_type, cache):
    response = page.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == cache
    assert response.headers["etag"].startswith('"')
    assert response.headers["x-content-type-options"] == "nosniff"
    name = path.removeprefix("/compose/") or "index.html"
    assert response.content == (page.folder / "web" / name).read_bytes()


def test_etag_answers_304_and_changes_with_the_content(page):
    first = page.client.get("/compose/app.js")
    again = page.client.get("/compose/app.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    listed = page.client.get("/compose/app.js", headers={"if-none-match": f'"x", W/{first.headers["etag"]}'})
    assert listed.status_code == 304
    other = page.client.get("/compose/app.js", headers={"if-none-match": '"stale"'})
    assert other.status_code == 200 and other.content


def test_head_sends_headers_without_a_body(page):
    status, headers, body = raw(page, "HEAD", "/compose/img/dot.png")
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(PNG)) and headers["content-type"] == "image/png"


def test_endpoint_without_slash_redirects_to_the_page_and_post_still_predicts(page):
    response = page.client.get("/compose?draft=1", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/compose/?draft=1"
    assert page.client.get("/compose", follow_redirects=True).text.startswith("<!doctype html>")
    assert page.client.post("/compose", json={"a": 1}).json() == {"type": "dict", "payload": {"a": 1}}


def _error(status_body_pair):
    """(status, headers, body) of an error answer, checking mlserve's one error shape."""
    status, headers, body = status_body_pair
    data = json.loads(body)
    assert set(data) == {"error", "request_id", "hint"}, data
    assert headers["x-request-id"] == data["request_id"]
    return status, headers, data


@pytest.mark.parametrize("path", [
    "/compose/../cortex.yaml", "/compose/img/../../secret.txt", "/compose/%2e%2e/secret.txt",
    "/compose/%2E%2E%2Fsecret.txt", "/compose/..%5csecret.txt", "/compose/img%5c..%5c..%5csecret.txt",
    "/compose//etc/passwd", "/compose/%2fetc/passwd", "/compose/C:/secret.txt", "/compose/./index.html",
])
def test_paths_leaving_the_folder_get_400(page, path):
    status, _, data = _error(raw(page, "GET", path))
    assert status == 400, (path, data)


@pytest.mark.parametrize("path, says", [
    ("/compose/missing.js", "no file 'missing.js'"),
    ("/compose/img", "is a folder"),
    ("/compose/img/", "is a folder"),
    ("/compose/.env", "no file '.env'"),
    ("/compose/link.txt", "no file 'link.txt'"),  # a symlink out of the project
    ("/compose/index.html/", "names a file as a folder"),
    ("/compose/img/logo.svg/", "names a file as a folder"),
])
def test_missing_files_folders_hidden_files_and_escaping_links_get_404(page, path, says):
    status, _, data = _error(raw(page, "GET", path))
    assert status == 404 and says in data["error"], data
    assert "SECRET" not in str(data) and "outside the p" not in str(data)


def test_a_link_inside_the_project_is_served_as_what_it_points_to(page):
    status, _, data = raw(page, "GET", "/compose/inside.txt")
    assert (status, data) == (200, b"outside the page folder")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_files_get_405_with_allow(page, method):
    status, headers, data = _error(raw(page, method, "/compose/index.html"))
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert method in data["error"] and "POST /compose" in data["hint"]


def test_page_requests_are_not_counted_as_predictions(page):
    before = page.client.get("/metrics").text
    page.client.get("/compose")
    page.client.get("/compose/app.js")
    assert _requests(page.client.get("/metrics").text) == _requests(before)


def _requests(metrics: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("mlserve_requests_total{"))


def test_without_static_the_endpoint_serves_no_files(start):
    server = start("echo.py")
    assert server.client.get("/t/index.html").status_code == 404


def test_a_page_at_the_root_endpoint_leaves_the_runtime_paths_alone(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("<p>root</p>")
    server = serve_fixture(tmp_path, "echo.py", {}, {"networking": {"endpoint": "/", "static": "web"}})
    try:
        server.wait()
        assert server.client.get("/").text == "<p>root</p>"
        assert server.client.get("/healthz").json() == {"status": "ok"}
        assert server.client.get("/metrics").status_code == 200
        assert server.client.post("/", json=1).json() == {"type": "int", "payload": 1}
        status, _, data = _error(raw(server, "GET", "/nothing.css"))
        assert status == 404 and "nothing.css" in data["error"]
    finally:
        server.stop()
