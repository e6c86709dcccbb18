"""The HTTP adapter of prediction routes: ASGI in, the data plane's answer out.

It reads the request body (refusing an oversized or stalled one: 413, 408; a client gone mid-body
gets nothing), hands body, headers and query to `DataPlane.handle`, and sends the answer. A
prediction refused because the predictor is not ready is answered before the body is read.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from mlserve.errors import MlserveError
from mlserve.runtime.dataplane import DataPlane
from mlserve.runtime.middleware import REQUEST_ID_KEY
from mlserve.runtime.payload import ClientGone, query_params, read_body, request_headers
from mlserve.runtime.wire import NATIVE, Wire


class PredictEndpoint:
    """The ASGI app behind `POST <endpoint>` (mlserve's own format), and behind a protocol's prediction
    routes given a `wire(request_id)` factory: one wire per request, since a wire may hold a request's state."""

    def __init__(self, plane: DataPlane, wire: Callable[[str], Wire] | None = None) -> None:
        self.plane, self.wire = plane, wire

    async def __call__(self, scope, receive, send) -> None:
        request_id = scope[REQUEST_ID_KEY]
        wire = NATIVE if self.wire is None else self.wire(request_id)
        plane = self.plane
        answer = plane.refusal(request_id, wire)
        if answer is None:
            headers = request_headers(scope)
            try:
                # Admitted (in handle) only once the body is in: a client stalling mid-body holds no slot.
                body = await read_body(receive, headers, plane.max_body)
            except MlserveError as e:
                answer = wire.error(e, request_id)
            except ClientGone:
                answer = Response(status_code=499)  # never sent: the client has gone
            else:
                answer = await plane.handle(body, headers, query_params(scope), request_id, wire)
        await answer(scope, receive, send)
