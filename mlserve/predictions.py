"""Calling a deployed API over HTTP: request bodies, answers, errors and Server-Sent Events.

Shared by `mlserve.Client`, `mlserve.AsyncClient` and `mlserve predict`, so all three send the
same bodies and report an API's error answer the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from mlserve.errors import PredictionFailed, RequestError

JSON = "application/json"
EVENT_STREAM = "text/event-stream"


@dataclass
class Prediction:
    """One API answer: `json()` for JSON answers, `text` for text, `content` for the bytes."""

    api: str
    status_code: int
    content_type: str
    content: bytes
    request_id: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class Event:
    """One Server-Sent Event of a streamed answer; `data` is the text after `data:`."""

    data: str
    event: str = "message"
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Request:
    """What to POST: the body, its headers and the query parameters (the predictor's query_params)."""

    content: bytes
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def build_request(payload: Any, *, content_type: str | None = None, stream: bool = False,
                  headers: dict[str, str] | None = None, params: dict[str, Any] | None = None) -> Request:
    """bytes are sent as they are (Content-Type guessed from them unless given), str as
    text/plain, anything else as JSON."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        body = bytes(payload)
        kind = content_type or guess_type(body)
    elif isinstance(payload, str):
        body, kind = payload.encode(), content_type or "text/plain; charset=utf-8"
    else:
        try:
            body = json.dumps(payload, ensure_ascii=False, default=_model_dump).encode()
        except (TypeError, ValueError) as e:
            raise RequestError(f"the payload cannot be sent as JSON: {e}",
                               hint="pass JSON-serialisable data, a str or bytes") from None
        kind = content_type or JSON
    sent = {"content-type": kind, **(headers or {})}
    if stream:
        sent["accept"] = EVENT_STREAM
    return Request(body, sent, {k: str(v) for k, v in (params or {}).items()})


def _model_dump(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):  # a pydantic model as payload
        return obj.model_dump(mode="json")
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def looks_like_json(body: bytes, name: str | None = None) -> bool:
    """A body meant as JSON: a file named *.json, or text starting with { or [."""
    if name is not None and name.lower().endswith(".json"):
        return True
    return body.lstrip()[:1] in (b"{", b"[")


def parse_json_body(body: bytes, source: str) -> None:
    """Raise RequestError with line and column when `body` is not valid JSON."""
    try:
        json.loads(body)
    except UnicodeDecodeError as e:
        raise RequestError(f"{source}: not valid JSON: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise RequestError(f"{source}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}",
                           hint="fix the JSON, or pass --content-type to send it as it is") from None


def guess_type(body: bytes) -> str:
    try:
        json.loads(body)
        return JSON
    except (UnicodeDecodeError, ValueError):
        pass
    try:
        body.decode("utf-8")
        return "text/plain"
    except UnicodeDecodeError:
        return "application/octet-stream"


def check(api: str, response: httpx.Response) -> None:
    """Raise PredictionFailed for an error answer (its body must have been read)."""
    if response.is_success:
        return
    message, hint = error_message(response)
    if hint is None and response.status_code >= 500:
        hint = f"`mlserve logs {api}` shows the server side"
    raise PredictionFailed(f"api '{api}' answered {response.status_code}: {message}", hint=hint,
                           status_code=response.status_code)


def error_message(response: httpx.Response) -> tuple[str, str | None]:
    """The message and hint of an error response (the runtime answers {"error", "hint", "request_id"})."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase, None
    if not isinstance(data, dict):
        return str(data)[:500], None
    message = str(data.get("error") or data.get("detail") or data)
    request_id = data.get("request_id") or response.headers.get("x-request-id")
    if request_id and request_id not in message:
        message += f" (request id {request_id})"
    return message, data.get("hint")


def unreachable(api: str, url: str, error: Exception) -> PredictionFailed:
    return PredictionFailed(f"cannot reach api '{api}' at {url}: {error}",
                            hint=f"`mlserve get {api}` shows whether it is running")


def prediction(api: str, response: httpx.Response) -> Prediction:
    return Prediction(api, response.status_code, response.headers.get("content-type", ""),
                      response.content, response.headers.get("x-request-id"))


class EventParser:
    """Turns the lines of a text/event-stream into Events (the WHATWG rules mlserve needs).
    mlserve's `event: end` sets `done`; its `event: error` raises PredictionFailed."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.done = False
        self._data: list[str] = []
        self._event = "message"
        self._id: str | None = None

    def feed(self, line: str) -> Event | None:
        """The data event a blank line completes, else None."""
        if not line:
            if not self._data and self._event == "message":
                return None
            event = Event("\n".join(self._data), self._event, self._id)
            self._data, self._event = [], "message"
            if event.event == "error":
                raise stream_error(self.api, event)
            if event.event == "end":
                self.done = True
                return None
            return event
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None


def stream_error(api: str, event: Event) -> PredictionFailed:
    """The error an `event: error` of a stream carries."""
    try:
        data = event.json()
    except ValueError:
        data = {"error": event.data}
    message = str(data.get("error", event.data)) if isinstance(data, dict) else event.data
    request_id = data.get("request_id") if isinstance(data, dict) else None
    if request_id and request_id not in message:
        message += f" (request id {request_id})"
    return PredictionFailed(f"api '{api}' failed while streaming: {message}",
                            hint=data.get("hint") if isinstance(data, dict) else None)
