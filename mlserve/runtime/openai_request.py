"""Checking an OpenAI completion or chat request body and turning it into a `TextRequest`.

Supported: model, prompt (completions) / messages (chat), max_tokens (chat also
max_completion_tokens), temperature, top_p, stop, seed, stream, n=1, user (accepted, unused).
Any other field is refused with a 400 naming it, unless it carries the value that asks for
nothing (null, `n: 1`, `presence_penalty: 0`, `echo: false`, ...), as clients often send those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlserve.completions import TextRequest
from mlserve.errors import NotFound, RequestError, UnsupportedParameter

COMMON = ("model", "max_tokens", "temperature", "top_p", "stop", "seed", "stream", "n", "user")
FIELDS = {False: {*COMMON, "prompt"}, True: {*COMMON, "messages", "max_completion_tokens"}}
# OpenAI fields whose value here asks for nothing: sent with it, they are accepted.
NEUTRAL = {"best_of": 1, "echo": False, "frequency_penalty": 0, "presence_penalty": 0, "logprobs": False,
           "logit_bias": {}, "parallel_tool_calls": True, "tools": [], "stream_options": {}, "suffix": ""}
ROLES = ("system", "developer", "user", "assistant")
MAX_STOPS = 4


class ModelNotServed(NotFound):
    param, code = "model", "model_not_found"


def _refuse(name: str, value: Any, why: str, hint: str) -> UnsupportedParameter:
    return UnsupportedParameter(f"'{name}': {why} (got {value!r})", param=name, hint=hint)


def _number(data: dict, name: str, low: float, high: float, integer: bool = False) -> Any:
    value = data.get(name)
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        what = "an integer" if integer else "a number"
        raise _refuse(name, value, f"must be {what} from {low:g} to {high:g}", f"send {name} in range, or leave it out")
    return value


def _stops(value: Any) -> tuple[str, ...]:
    stops = [value] if isinstance(value, str) else value if value is not None else []
    if not isinstance(stops, list) or len(stops) > MAX_STOPS or not all(isinstance(s, str) and s for s in stops):
        raise _refuse("stop", value, f"must be a non-empty string or a list of up to {MAX_STOPS} of them",
                      'send e.g. "stop": ["\\n"]')
    return tuple(stops)


def _prompt(data: dict) -> str:
    prompt = data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise _refuse("prompt", prompt, "must be one string (lists of prompts and token ids are not served)",
                      "send one prompt per request")
    return prompt


def _messages(data: dict) -> list[dict]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _refuse("messages", messages, "must be a non-empty list", 'send [{"role": "user", "content": "..."}]')
    out = []
    for i, m in enumerate(messages):
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):  # content parts: text parts only
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise _refuse(f"messages[{i}].content", content, "only text parts are served",
                              "send text content")
            content = "".join(p["text"] for p in content)
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(content, str):
            raise _refuse(f"messages[{i}]", m, f"must have a role ({', '.join(ROLES)}) and text content",
                          'send {"role": "user", "content": "..."}')
        out.append({"role": m["role"], "content": content})
    return out


def parse_request(data: Any, chat: bool, model: str,
                  chat_prompt: Callable[[list[dict]], str]) -> tuple[TextRequest, tuple[str, ...], bool]:
    """(the request, its stop sequences, whether to stream) from a decoded JSON body."""
    if not isinstance(data, dict):
        raise RequestError(f"expected a JSON object, got {type(data).__name__}",
                           hint="send the request body as OpenAI's client does (Content-Type: application/json)")
    for name, value in data.items():
        if name not in FIELDS[chat] and value is not None and value != NEUTRAL.get(name, ...):
            raise _refuse(name, value, "is not supported by this server",
                          f"leave '{name}' out; supported: {', '.join(sorted(FIELDS[chat]))}")
    if data.get("model") not in (None, model):
        raise ModelNotServed(f"model '{data.get('model')}' is not served here; this endpoint serves '{model}'",
                             hint=f"send model: \"{model}\" (GET .../v1/models lists it)")
    if data.get("n") not in (None, 1):
        raise _refuse("n", data["n"], "only n=1 is served", "send one request per completion")
    stream = data.get("stream")
    if stream not in (None, True, False):
        raise _refuse("stream", stream, "must be true or false", "send a JSON boolean")
    max_tokens = _number(data, "max_tokens", 1, 2**31 - 1, integer=True)
    if chat and max_tokens is None:
        max_tokens = _number(data, "max_completion_tokens", 1, 2**31 - 1, integer=True)
    request = TextRequest(
        prompt=chat_prompt(_messages(data)) if chat else _prompt(data), chat=chat, max_tokens=max_tokens,
        temperature=_number(data, "temperature", 0, 2), top_p=_number(data, "top_p", 0, 1),
        seed=_number(data, "seed", -2**63, 2**63 - 1, integer=True))
    return request, _stops(data.get("stop")), bool(stream)
