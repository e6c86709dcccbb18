"""Typed predictors: `def predict(self, payload: Question) -> Answer` with pydantic models.

The payload annotation validates the body strictly (422 naming the field, in mlserve's error shape) and
the predictor receives the model instance; a model return value is serialised as JSON. Both
models appear in the API's OpenAPI with the model's example. Unannotated predictors (or
annotations that are not pydantic models) are served exactly as before.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from mlserve.errors import PayloadInvalid
from mlserve.runtime.payload import to_json

log = logging.getLogger("mlserve.runtime")
REF = "#/components/schemas/{model}"
ERROR_SCHEMA = {
    "title": "Error", "type": "object", "required": ["error", "request_id"],
    "properties": {"error": {"type": "string", "description": "What went wrong"},
                   "request_id": {"type": "string", "description": "Also in the X-Request-ID header and the logs"},
                   "hint": {"type": "string", "description": "What to do about it"}},
}


def _model(hint: Any) -> type[BaseModel] | None:
    return hint if inspect.isclass(hint) and issubclass(hint, BaseModel) else None


def models(fn: Callable) -> tuple[type[BaseModel] | None, type[BaseModel] | None]:
    """(payload model, return model) of a predictor method; None where not a pydantic model."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as e:  # an annotation that does not resolve: served untyped, as before
        log.warning("%s: its type annotations do not resolve (%s); the payload is not validated",
                    getattr(fn, "__qualname__", fn), e)
        return None, None
    return _model(hints.get("payload")), _model(hints.get("return"))


def validate(model: type[BaseModel], payload: Any) -> BaseModel:
    """The payload as a `model` instance, or PayloadInvalid naming each bad field.

    Strict, in JSON mode, so that what the published schema promises is what is enforced: "5" is
    not an integer, false is not a number. JSON mode keeps the JSON forms of dates, enums, tuples
    and UUIDs. JSON has one number type and JSON Schema counts 5.0 as an integer, so a number with a
    zero fraction is taken as that integer (then an integer field accepts it, and a float field
    takes any integer)."""
    try:
        # A binary body (not JSON) is validated as null: "Input should be an object", as for text.
        return model.model_validate_json(to_json(None if isinstance(payload, bytes) else _integral(payload)),
                                         strict=True)
    except RecursionError:
        raise _too_deep(model) from None
    except ValidationError as e:
        if any(err["type"] == "json_invalid" for err in e.errors()):  # the validator's depth limit (~200)
            raise _too_deep(model) from None
        problems = [f"{_path(err['loc'])}: {err['msg']}" for err in e.errors(include_url=False)]
        raise PayloadInvalid(
            f"the payload does not match {model.__name__}: " + "; ".join(problems),
            hint="send JSON (Content-Type: application/json) shaped as the request schema in GET /openapi.json",
        ) from None


def _too_deep(model: type[BaseModel]) -> PayloadInvalid:
    return PayloadInvalid(f"the payload is nested too deeply to validate as {model.__name__} (the limit is "
                          "about 200 levels)", hint="flatten the document")


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _path(loc: tuple) -> str:
    path = "payload"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def add_schemas(schema: dict, operation: dict, payload: type[BaseModel] | None,
                result: type[BaseModel] | None) -> None:
    """Put the models' JSON schemas (and the error shape) into an OpenAPI document's operation."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    for code, response in operation["responses"].items():
        if int(code) >= 400:
            response["content"] = error
    if payload is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": _media(components, payload)}}
        operation["responses"]["422"] = {"description": "The payload does not match the request schema",
                                         "content": error}
    if result is not None:
        operation["responses"]["200"]["content"] = {"application/json": _media(components, result)}


def _media(components: dict, model: type[BaseModel]) -> dict:
    body = model.model_json_schema(ref_template=REF)
    components.update(body.pop("$defs", {}))
    components[model.__name__] = body
    media: dict = {"schema": {"$ref": REF.format(model=model.__name__)}}
    examples = body.get("examples")
    if examples:
        media["example"] = examples[0]
    return media
