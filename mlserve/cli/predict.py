"""`mlserve predict API PAYLOAD`: POST a payload to an API and print the answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mlserve.cli.common import DEFAULT_SPEC, EnvOption, SpecOption
from mlserve.cli.job_wait import submit_and_wait
from mlserve.client import Client
from mlserve.predictions import build_request, looks_like_json, parse_json_body

NAME = "predict"


def command(
    api: Annotated[str, typer.Argument(metavar="API", help="The API to call.", show_default=False)],
    payload: Annotated[str | None, typer.Argument(metavar="PAYLOAD.json|-", show_default=False,
                                                  help="File holding the request body, or - for stdin.")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", metavar="BODY", show_default=False,
                                             help="The request body inline, e.g. -d '{\"text\": \"hi\"}'.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Ask for Server-Sent Events and print each event's "
                                                          "data as it arrives.")] = False,
    content_type: Annotated[str | None, typer.Option(
        "--content-type", "-t", show_default=False,
        help="Content-Type to send. Default: application/json if the body parses as JSON, else text/plain "
             "for UTF-8 text, else application/octet-stream. A body that looks like JSON (a .json file, or "
             "text starting with { or [) must parse.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 300.0,
    wait: Annotated[bool, typer.Option("--wait", help="AsyncAPIs: poll until the item is done and print its "
                                                      "result (without it, the item's id is printed). Job APIs "
                                                      "(BatchAPI, TaskAPI): submit the payload as a job and "
                                                      "follow it to its end with a progress bar.")] = False,
    env: EnvOption = None,
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """POST a payload to an API and print its response (exit code 1 if the API answers with an error)."""
    if (payload is None) == (data is None):
        raise typer.BadParameter("give a PAYLOAD file (or -) or --data BODY (one of them)",
                                 param_hint="PAYLOAD / --data")
    body = data.encode() if data is not None else _read(payload)
    if content_type is None and looks_like_json(body, payload):
        parse_json_body(body, payload if data is None and payload != "-" else "the body")
    client = Client(env, spec)
    out = typer.get_binary_stream("stdout")
    if client.is_async(api):
        _submit(client, api, body, content_type, wait, timeout, out)
        return
    if wait:
        return submit_and_wait(client, api, body, payload if data is None else "the body")
    if stream:
        for event in client.predict(api, body, stream=True, content_type=content_type, timeout=timeout):
            out.write(event.data.encode() + b"\n")
            out.flush()
        return
    request = build_request(body, content_type=content_type)
    with client.post(api, request, timeout=timeout) as response:
        if response.headers.get("content-type", "").startswith("application/json"):
            out.write(json.dumps(json.loads(response.read()), indent=2, ensure_ascii=False).encode() + b"\n")
            return
        for chunk in response.iter_bytes():  # streamed answers print as they arrive
            out.write(chunk)
            out.flush()


def _submit(client: Client, api: str, body: bytes, content_type: str | None, wait: bool, timeout: float,
            out) -> None:
    """An AsyncAPI: print the item's id, or with --wait its result once done."""
    item = client.submit(api, body, content_type=content_type, timeout=min(timeout, 60.0))
    if not wait:
        out.write(item.encode() + b"\n")
        return
    result = client.result(api, item, wait=True, timeout=timeout)
    text = result if isinstance(result, str) else json.dumps(result, indent=2, ensure_ascii=False)
    out.write(text.encode() + b"\n")


def _read(payload: str) -> bytes:
    if payload == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(payload).read_bytes()
    except OSError as e:
        raise typer.BadParameter(f"cannot read {payload}: {e.strerror}", param_hint="PAYLOAD.json") from None
