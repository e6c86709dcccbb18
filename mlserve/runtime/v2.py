"""The Open Inference Protocol (KServe v2, also Triton's and MLServer's) for one API.

    GET  /v2                          server metadata
    GET  /v2/health/live, /v2/health/ready
    GET  /v2/models/<api>             model metadata: named inputs and outputs
    GET  /v2/models/<api>/ready
    POST /v2/models/<api>/infer       through DataPlane.handle, as the native route

Named inputs and outputs come from a typed predictor's pydantic models (runtime/typed.py): each
field of the payload model is an input, each field of the returned model an output, with
str -> BYTES, int -> INT64, float -> FP32, bool -> BOOL, each of shape [1], and a list of one of
them -> shape [-1]; an optional field is an input that may be left out. A predictor whose models
have other fields (or that has none) answers metadata with no tensors and infer with a 400.
One infer request is one payload (no batch dimension; server-side batching still batches
requests). Inputs come as JSON `data` or in the binary tensor extension (tritonclient's
default); outputs are always JSON. An API serves one model: the version paths of multi-model
servers (`/v2/models/<name>/versions/<v>/...`) are not served.
"""

from __future__ import annotations

import struct
import types
import typing
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlserve.errors import RequestError, UnsupportedParameter
from mlserve.runtime.host import PredictorHost
from mlserve.runtime.http import PredictEndpoint
from mlserve.runtime.middleware import REQUEST_ID_KEY
from mlserve.runtime.payload import decode, error_response, to_json
from mlserve.runtime.wire import Wire

if TYPE_CHECKING:
    from mlserve.runtime.dataplane import DataPlane

DATATYPES = {str: "BYTES", int: "INT64", float: "FP32", bool: "BOOL"}
_STRUCT = {"INT64": "q", "FP32": "f", "BOOL": "?"}


def _tensor(annotation: Any) -> tuple[str, list[int], bool] | None:
    """(datatype, shape, optional) of a field annotation; None where it has no tensor form."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            return None
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (None,)
        return (DATATYPES[item], [-1], optional) if item in DATATYPES else None
    return (DATATYPES[annotation], [1], optional) if annotation in DATATYPES else None


@cache
def tensors(model: type[BaseModel] | None) -> dict[str, tuple[str, list[int], bool]] | None:
    """The named tensors of a pydantic model's fields; None unless every field has one."""
    if model is None:
        return None
    fields = model.model_fields
    specs = {name: spec for name, field in fields.items() if (spec := _tensor(field.annotation)) is not None}
    if len(specs) < len(fields):
        return None
    return {name: (kind, shape, optional or not fields[name].is_required())
            for name, (kind, shape, optional) in specs.items()}


def _declared(host: PredictorHost) -> tuple[dict, dict] | None:
    assert host.predictor is not None  # asked only once the predictor is ready
    predict = host.predictor.predict
    inputs, outputs = tensors(predict.payload_model), tensors(predict.response_model)
    return (inputs, outputs) if inputs is not None and outputs is not None else None


def _unbinary(raw: bytes, datatype: str) -> list:
    if datatype != "BYTES":
        code = _STRUCT[datatype]
        return list(struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw))
    values, at = [], 0
    while at + 4 <= len(raw):
        (size,) = struct.unpack_from("<I", raw, at)
        values.append(raw[at + 4:at + 4 + size])
        at += 4 + size
    return values


def _bad(message: str, param: str | None = None) -> UnsupportedParameter:
    return UnsupportedParameter(message, param=param,
                                hint="GET /v2/models/<name> lists the inputs with their datatypes and shapes")


class V2Wire(Wire):
    def __init__(self, model: str) -> None:
        self.model = model
        self.id: Any = None
        self.outputs: dict = {}
        self.wanted: list | None = None

    def read(self, body: bytes, headers: dict[str, str], plane: DataPlane) -> tuple[Any, bool]:
        declared = _declared(plane.host)
        if declared is None:
            raise RequestError(f"{self.model} declares no named inputs and outputs",
                               hint="annotate predict() with pydantic models of str/int/float/bool (or lists) "
                                    "fields (README#open-inference-protocol-v2), or use the native route")
        inputs, self.outputs = declared
        size = headers.get("inference-header-content-length")
        cut = int(size) if size and size.isdigit() else len(body)
        request = decode(body[:cut], "application/json")
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            raise _bad("the body must be a JSON object with an 'inputs' list", "inputs")
        self.id = request.get("id")
        self.wanted = [o.get("name") for o in request.get("outputs") or () if isinstance(o, dict)] or None
        payload, binary = {}, body[cut:]
        for tensor in request["inputs"]:
            name = tensor.get("name") if isinstance(tensor, dict) else None
            if name not in inputs:
                raise _bad(f"unknown input {name!r}; inputs: {', '.join(inputs)}", "inputs")
            kind, shape, _ = inputs[name]
            if tensor.get("datatype") != kind:
                raise _bad(f"input '{name}' is {kind}, got {tensor.get('datatype')!r}", name)
            nbytes = (tensor.get("parameters") or {}).get("binary_data_size")
            if nbytes is not None:
                values, binary = _unbinary(binary[:nbytes], kind), binary[nbytes:]
            else:
                values = tensor.get("data")
                values = values if isinstance(values, list) else [values]
            if kind == "BYTES":
                values = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in values]
            if shape == [1] and len(values) != 1:
                raise _bad(f"input '{name}' holds one value (shape [1]), got {len(values)}", name)
            payload[name] = values[0] if shape == [1] else values
        return payload, False

    def answer(self, result: Any) -> Response:
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        outputs = []
        for name, (kind, shape, _) in self.outputs.items():
            if (self.wanted is None or name in self.wanted) and isinstance(data, dict) and name in data:
                values = data[name] if shape == [-1] else [data[name]]
                outputs.append({"name": name, "datatype": kind, "shape": [len(values)], "data": values})
        body = {"model_name": self.model, "outputs": outputs, **({"id": self.id} if self.id is not None else {})}
        return Response(to_json(body), media_type="application/json")


def v2_routes(plane: DataPlane, version: str) -> list[Route]:
    host = plane.host
    name = host.api.name
    model = f"/v2/models/{name}"

    def tensor_list(specs: dict | None) -> list[dict]:
        return [{"name": n, "datatype": kind, "shape": shape} for n, (kind, shape, _) in (specs or {}).items()]

    async def server(request: Request) -> Response:
        return JSONResponse({"name": "mlserve", "version": version, "extensions": []})

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        return JSONResponse({"name": name, "ready": host.ready}, status_code=200 if host.ready else 503)

    async def metadata(request: Request) -> Response:
        unready = host.unready()
        if unready is not None:  # the tensors are known once the predictor has loaded
            return error_response(unready, request.scope[REQUEST_ID_KEY])
        inputs, outputs = _declared(host) or (None, None)
        return JSONResponse({"name": name, "versions": [], "platform": "mlserve",
                             "inputs": tensor_list(inputs), "outputs": tensor_list(outputs)})

    return [Route("/v2", server, methods=["GET"]), Route("/v2/health/live", live, methods=["GET"]),
            Route("/v2/health/ready", ready, methods=["GET"]), Route(model, metadata, methods=["GET"]),
            Route(f"{model}/ready", ready, methods=["GET"]),
            Route(f"{model}/infer", PredictEndpoint(plane, lambda request_id: V2Wire(name)), methods=["POST"])]
