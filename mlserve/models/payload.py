"""Request checks shared by the seed predictors: one clear RequestError per bad field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mlserve.errors import PayloadTooLarge, RequestError

T = TypeVar("T")


def as_dict(payload: Any) -> Any:
    """A typed predictor's payload model as the dict these checks read (fields it was sent)."""
    return payload.model_dump(exclude_unset=True) if hasattr(payload, "model_dump") else payload


def text_field(payload: Any, name: str, *, max_chars: int, example: str) -> str:
    """The non-empty string `payload[name]`, at most `max_chars` long."""
    payload = as_dict(payload)
    if not isinstance(payload, dict):
        got = "raw bytes" if isinstance(payload, (bytes, bytearray)) else type(payload).__name__
        raise RequestError(f"expected a JSON object like {example}, got {got}",
                           hint="send Content-Type: application/json with a JSON object body")
    if name not in payload:
        raise RequestError(f"missing field '{name}'", hint=f"send a JSON object like {example}")
    value = payload[name]
    if not isinstance(value, str):
        raise RequestError(f"field '{name}' must be a string, got {type(value).__name__}",
                           hint=f"send a JSON object like {example}")
    if not value.strip():
        raise RequestError(f"field '{name}' is empty", hint=f"send a JSON object like {example}")
    if len(value) > max_chars:
        raise PayloadTooLarge(f"field '{name}' has {len(value)} characters; this API accepts at most {max_chars}",
                              hint="send less text, or raise max_input_chars in the predictor config")
    return value


def int_field(payload: Any, name: str, *, default: int, low: int, high: int) -> int:
    payload = as_dict(payload)
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(f"field '{name}' must be an integer from {low} to {high}, got {value!r}")
    return value


def float_field(payload: Any, name: str, *, default: float, low: float, high: float) -> float:
    payload = as_dict(payload)
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise RequestError(f"field '{name}' must be a number from {low} to {high}, got {value!r}",
                           hint=f"leave '{name}' out for the default ({default})")
    return float(value)


def bool_field(payload: Any, name: str, *, default: bool) -> bool:
    value = as_dict(payload).get(name, default)
    if not isinstance(value, bool):
        raise RequestError(f"field '{name}' must be true or false, got {value!r}",
                           hint=f"leave '{name}' out for the default ({str(default).lower()})")
    return value


def run_batched(payload: Any, parse: Callable[[Any], T], run: Callable[[list[T]], list]) -> Any:
    """One payload: `run([parse(payload)])[0]`, a bad payload raises its RequestError.

    A list (server-side batching): each payload is parsed on its own, the good ones run together
    in one `run` call, and a bad one gets its RequestError in its slot of the returned list, so it
    fails only its own request, not the whole batch.
    """
    if not isinstance(payload, list):
        return run([parse(payload)])[0]
    parsed: list = []
    for item in payload:
        try:
            parsed.append(parse(item))
        except RequestError as exc:
            parsed.append(exc)
    good = [p for p in parsed if not isinstance(p, RequestError)]
    results = iter(run(good) if good else [])
    return [p if isinstance(p, RequestError) else next(results) for p in parsed]
