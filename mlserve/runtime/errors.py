"""Errors the framework answers itself (unknown path, wrong method, a crash outside the
predictor) in mlserve's one error shape instead of Starlette's `{"detail": ...}` / text."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request

from mlserve.errors import MlserveError, PredictorError, RequestError
from mlserve.runtime.middleware import REQUEST_ID_KEY
from mlserve.runtime.payload import error_response

log = logging.getLogger("mlserve.runtime")


class _RoutingError(RequestError):
    def __init__(self, status: int, message: str, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.http_status = status


def _routing_error(request: Request, status: int) -> MlserveError:
    method, path = request.method, request.url.path
    if status == 404:
        return _RoutingError(404, f"there is no {path} here",
                             hint="see GET /docs for this API's endpoints")
    if status == 405:
        return _RoutingError(405, f"{path} does not accept {method}",
                             hint="see GET /docs for the methods each endpoint accepts")
    return _RoutingError(status, f"{method} {path} failed with HTTP {status}", hint="see GET /docs")


def add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: HTTPException):
        response = error_response(_routing_error(request, exc.status_code), request.scope[REQUEST_ID_KEY])
        response.headers.update(exc.headers or {})
        return response

    async def crash(request: Request, exc: Exception):
        request_id = request.scope.get(REQUEST_ID_KEY, "-")
        log.exception("request %s: the server failed", request_id)
        response = error_response(PredictorError(f"the server failed (request id {request_id})",
                                                 hint="see the API's logs"), request_id)
        response.headers["x-request-id"] = request_id  # answered outside RequestMiddleware
        return response

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, crash)
