"""`mlserve predict API PAYLOAD`: POST a payload to an API and print the answer."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer

from mlserve.cli.common import DEFAULT_SPEC, EnvOption, SpecOption
from mlserve.deploy.registry import backend_for
from mlserve.errors import MlserveError, PredictionFailed
from mlserve.spec import load_project

NAME = "predict"


def command(
    api: Annotated[str, typer.Argument(metavar="API", help="The API to call.", show_default=False)],
    payload: Annotated[str, typer.Argument(metavar="PAYLOAD.json|-", show_default=False,
                                           help="File holding the request body, or - for stdin.")],
    content_type: Annotated[str | None, typer.Option(
        "--content-type", "-t", show_default=False,
        help="Content-Type to send. Default: application/json if the body parses as JSON, else text/plain "
             "for UTF-8 text, else application/octet-stream.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 300.0,
    env: EnvOption = None,
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """POST a payload to an API and print its response (exit code 1 if the API answers with an error)."""
    body = _read(payload)
    url = backend_for(env, spec).endpoint(api)
    headers = {"content-type": content_type or _guess_type(body), **_key_header(spec, api)}
    out = typer.get_binary_stream("stdout")
    try:
        with httpx.stream("POST", url, content=body, headers=headers, timeout=timeout) as response:
            if not response.is_success:
                response.read()
                message, hint = _error(response)
                if hint is None and response.status_code >= 500:
                    hint = f"`mlserve logs {api}` shows the server side"
                raise PredictionFailed(f"api '{api}' answered {response.status_code}: {message}", hint=hint)
            if response.headers.get("content-type", "").startswith("application/json"):
                out.write(json.dumps(json.loads(response.read()), indent=2, ensure_ascii=False).encode() + b"\n")
                return
            for chunk in response.iter_bytes():  # streamed answers print as they arrive
                out.write(chunk)
                out.flush()
    except httpx.TransportError as e:
        raise PredictionFailed(f"cannot reach api '{api}' at {url}: {e}",
                               hint=f"`mlserve get {api}` shows whether it is running") from None


def _key_header(spec: str, api: str) -> dict[str, str]:
    """The API's key when its networking.api_key_env is set here (the runtime answers 401 otherwise)."""
    try:
        name = load_project(spec).api(api).networking.api_key_env
    except MlserveError:
        return {}  # no readable spec here: send no key
    key = os.environ.get(name or "", "")
    return {"authorization": f"Bearer {key}"} if key else {}


def _read(payload: str) -> bytes:
    if payload == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(payload).read_bytes()
    except OSError as e:
        raise typer.BadParameter(f"cannot read {payload}: {e.strerror}", param_hint="PAYLOAD.json") from None


def _guess_type(body: bytes) -> str:
    try:
        json.loads(body)
        return "application/json"
    except (UnicodeDecodeError, ValueError):
        pass
    try:
        body.decode("utf-8")
        return "text/plain"
    except UnicodeDecodeError:
        return "application/octet-stream"


def _error(response: httpx.Response) -> tuple[str, str | None]:
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
