"""Static files next to an API (`networking.static`), served with GET/HEAD under its endpoint.

`{endpoint}/` is the folder's index.html, `{endpoint}/<file>` a file in it, and `GET {endpoint}`
redirects to `{endpoint}/` (POST {endpoint} stays the prediction). Same origin as the API, so a
page can POST to it without CORS. Only plain files inside the folder are served: dot files, `..`,
backslashes and absolute paths are refused before the file system is touched. A symlink is served
as what it points to only if that is inside the project (deploy's rule, mlserve/spec/links.py, by
which `deploy` copies the folder); one leaving the project is treated as missing.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mlserve.errors import MethodNotAllowed, MlserveError, NotFound, RequestError
from mlserve.runtime.middleware import REQUEST_ID_KEY
from mlserve.runtime.payload import error_response

ALLOW = "GET, HEAD"
# Fixed types for what web pages use, whatever /etc/mime.types says on the serving machine.
_TYPES = {
    ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json", ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".ico": "image/x-icon", ".woff2": "font/woff2",
    ".map": "application/json", ".wasm": "application/wasm",
}
# HTML names the other files without a version in their names, so it must always be revalidated;
# other files may be reused for a few minutes (then revalidated through their ETag).
_HTML_CACHE = "no-cache"
_ASSET_CACHE = "public, max-age=300"


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _relative(path: str) -> str:
    """The checked relative path of a request under the folder; raises on anything suspicious."""
    if path == "":
        return "index.html"
    if "\\" in path or "\0" in path or path.startswith("/") or ":" in path.split("/", 1)[0]:
        raise RequestError(f"'{path}' is not a plain relative file path",
                           hint="ask for a file of the page's folder, e.g. index.html")
    parts = path.split("/")
    if parts[-1] == "":  # `name/`: asks for a folder, which _file answers
        parts.pop()
    if any(p in (".", "..") for p in parts):
        raise RequestError(f"'{path}' leaves the page's folder", hint="'.' and '..' are not allowed in paths")
    if any(p.startswith(".") for p in parts):
        raise NotFound(f"no file '{path}' here", hint="hidden files and folders are not served")
    return path


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


class StaticFiles:
    """The ASGI app behind `{endpoint}/...` for one folder."""

    def __init__(self, folder: Path, prefix: str, project: Path) -> None:
        self.folder, self.prefix, self.project = folder.resolve(), prefix, project.resolve()

    def _file(self, path: str) -> Path:
        rel = _relative(path)
        target = (self.folder / rel.rstrip("/")).resolve()
        if not target.is_relative_to(self.project) or not target.exists():
            raise NotFound(f"no file '{rel}' in the page's folder",
                           hint=f"the page is at {self.prefix}/; its files are under {self.prefix}/")
        if target.is_dir():
            raise NotFound(f"'{rel}' is a folder, not a file", hint="ask for a file inside it")
        if rel.endswith("/"):
            raise NotFound(f"'{rel}' names a file as a folder",
                           hint=f"ask for {self.prefix}/{rel.rstrip('/')} without the trailing /")
        return target

    async def __call__(self, scope, receive, send) -> None:
        request_id = scope[REQUEST_ID_KEY]
        try:
            response = self._respond(scope)
        except MlserveError as e:
            response = error_response(e, request_id)
            if isinstance(e, MethodNotAllowed):
                response.headers["allow"] = e.allow
        await response(scope, receive, send)

    def _respond(self, scope) -> Response:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{method} is not allowed on the page's files", allow=ALLOW,
                                   hint=f"use GET; predictions are POST {self.prefix or '/'}")
        target = self._file(scope["path_params"].get("path", ""))
        data = target.read_bytes()
        etag = _etag(data)
        headers = {"etag": etag, "x-content-type-options": "nosniff",
                   "cache-control": _HTML_CACHE if target.suffix.lower() in (".html", ".htm") else _ASSET_CACHE}
        for name, value in scope["headers"]:
            if name == b"if-none-match" and _matches(value.decode("latin-1"), etag):
                return Response(status_code=304, headers=headers)
        headers["content-length"] = str(len(data))
        return Response(b"" if method == "HEAD" else data, headers=headers, media_type=content_type(target))


def _redirect(prefix: str):
    async def redirect(request: Request) -> Response:
        query = request.url.query
        return RedirectResponse(prefix + "/" + ("?" + query if query else ""), status_code=307)
    return redirect


def static_routes(folder: Path, endpoint: str, project: Path) -> list[Route]:
    """The routes serving `folder` under `endpoint` (add them after the API's own routes); links
    may point anywhere inside the `project` folder."""
    prefix = endpoint.rstrip("/")
    files = StaticFiles(folder, prefix, project)
    routes = [Route(prefix + "/{path:path}", files)]
    if prefix:
        routes.insert(0, Route(prefix, _redirect(prefix), methods=["GET", "HEAD"]))
    return routes


