"""OpenAI-compatible routes for text-generation predictors (the contract: mlserve/completions.py).

`POST <endpoint>/v1/completions` and `POST <endpoint>/v1/chat/completions` become the predictor's
own payloads (`openai_payload`) and run through `DataPlane.handle` like the native route: the same
admission, API key, metrics, request ids, sessions, typed check and server-side batching. The
result comes back through `openai_result`; `stream: true` streams the predictor's `stream()` pieces
as `data: {chunk}` events ending with `data: [DONE]`. `GET <endpoint>/v1/models` lists the API.

Errors carry OpenAI's error object, `{"error": {"message", "type", "param", "code"}}`, next to
mlserve's `request_id` and `hint`. A field OpenAI defines but this server does not do is a 400,
unless it is sent with the value that asks for nothing (`n: 1`, `presence_penalty: 0`, null...).
In a stream `finish_reason` is "stop" (the predictor ended the text, or a `stop` sequence did).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlserve.completions import TextRequest
from mlserve.errors import MlserveError, NotFound, UnsupportedParameter
from mlserve.models.chat import render_chat
from mlserve.runtime.http import PredictEndpoint
from mlserve.runtime.openai_request import parse_request
from mlserve.runtime.payload import decode, error_response, to_json
from mlserve.runtime.wire import Wire

if TYPE_CHECKING:
    from mlserve.runtime.dataplane import DataPlane
    from mlserve.runtime.runner import Runner

_TYPES = {401: "authentication_error", 404: "not_found_error", 409: "conflict_error", 503: "service_unavailable"}


def error_object(err: MlserveError, request_id: str) -> dict:
    status = err.http_status
    kind = _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    code = "unsupported_parameter" if isinstance(err, UnsupportedParameter) else getattr(err, "code", None)
    return {"error": {"message": err.message, "type": kind, "param": getattr(err, "param", None), "code": code},
            "request_id": request_id, "hint": err.hint}


def error_renderer(base: str) -> Callable[[str, MlserveError, str], Response]:
    """Errors answered outside a route (the API key guard): OpenAI's shape under `base`/v1/."""
    prefix = f"{base}/v1/"

    def render(path: str, err: MlserveError, request_id: str) -> Response:
        body = to_json(error_object(err, request_id)) if path.startswith(prefix) else None
        return error_response(err, request_id, body)
    return render


class OpenAIWire(Wire):
    """One OpenAI request's translation, both ways (a wire per request: it holds the stream's state)."""

    def __init__(self, model: str, chat: bool, request_id: str) -> None:
        self.model, self.chat = model, chat
        self.id = ("chatcmpl-" if chat else "cmpl-") + request_id
        self.created = int(time.time())
        self.request: TextRequest | None = None
        self.runner: Runner | None = None
        self.stops: tuple[str, ...] = ()
        self.held = ""  # streamed text held back: it may be the start of a stop sequence
        self.role_sent = False

    def read(self, body: bytes, headers: dict[str, str], plane: DataPlane) -> tuple[Any, bool]:
        predictor = plane.host.predictor
        assert predictor is not None  # the data plane reads requests only once the predictor is ready
        if not predictor.openai:
            raise NotFound(f"{plane.host.api.name} does not answer OpenAI requests: its predictor has no "
                           "openai_payload()",
                           hint="see README#openai-compatible-routes for the two methods a predictor adds")
        data = decode(body, "application/json")
        runner = plane.runner
        chat_prompt = runner.hook("chat_prompt") or (lambda messages: render_chat(None, messages))
        self.request, self.stops, streamed = parse_request(data, self.chat, self.model, chat_prompt)
        if streamed and predictor.stream is None:
            raise UnsupportedParameter(f"{self.model} does not stream: its predictor has no stream()",
                                       param="stream", hint="send stream: false")
        self.runner = runner
        return runner.translate("openai_payload", self.request), streamed

    def _cut(self, text: str) -> tuple[str, bool]:
        """`text` up to its first stop sequence, and whether one was there."""
        ends = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        return (text[:min(ends)], True) if ends else (text, False)

    def answer(self, result: Any) -> Response:
        assert self.runner is not None  # read() came first
        done = self.runner.translate("openai_result", result, self.request)
        text, stopped = self._cut(done.text)
        choice: dict = {"index": 0, "finish_reason": "stop" if stopped else done.finish_reason, "logprobs": None}
        if self.chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        usage = {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
                 "total_tokens": done.prompt_tokens + done.completion_tokens}
        body = {"id": self.id, "object": "chat.completion" if self.chat else "text_completion",
                "created": self.created, "model": self.model, "choices": [choice], "usage": usage}
        return Response(to_json(body), media_type="application/json")

    def error(self, err: MlserveError, request_id: str) -> Response:
        return error_response(err, request_id, to_json(error_object(err, request_id)))

    def _chunk(self, text: str | None, finish_reason: str | None = None) -> bytes:
        choice: dict = {"index": 0, "finish_reason": finish_reason, "logprobs": None}
        if self.chat:
            delta: dict = {} if text is None else {"content": text}
            if not self.role_sent:
                delta["role"], self.role_sent = "assistant", True
            choice["delta"] = delta
        else:
            choice["text"] = text or ""
        chunk = {"id": self.id, "object": "chat.completion.chunk" if self.chat else "text_completion",
                 "created": self.created, "model": self.model, "choices": [choice]}
        return b"data: " + to_json(chunk) + b"\n\n"

    def event(self, item: Any) -> bytes:
        text, self.done = self._cut(self.held + (item if isinstance(item, str) else str(item)))
        self.held = ""
        if not self.done:  # hold back an end that may grow into a stop sequence
            keep = max((n for s in self.stops for n in range(len(s) - 1, 0, -1) if text.endswith(s[:n])), default=0)
            text, self.held = text[:len(text) - keep], text[len(text) - keep:]
        return self._chunk(text) if text else b""

    def end(self) -> bytes:
        rest = self._chunk(self.held) if self.held else b""
        return rest + self._chunk(None, "stop") + b"data: [DONE]\n\n"

    def error_event(self, err: MlserveError, request_id: str) -> bytes:
        return b"data: " + to_json(error_object(err, request_id)) + b"\n\n"


def openai_routes(plane: DataPlane, base: str) -> list[Route]:
    """The routes under `base` (the API's endpoint without its trailing slash)."""
    name = plane.host.api.name
    created = int(time.time())

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "mlserve"}]})

    def endpoint(chat: bool) -> PredictEndpoint:
        return PredictEndpoint(plane, lambda request_id: OpenAIWire(name, chat, request_id))

    return [Route(f"{base}/v1/completions", endpoint(False), methods=["POST"]),
            Route(f"{base}/v1/chat/completions", endpoint(True), methods=["POST"]),
            Route(f"{base}/v1/models", models, methods=["GET"])]

