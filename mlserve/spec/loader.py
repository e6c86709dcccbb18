"""Load cortex.yaml into `Project`, with errors that name file:line, the API and the field path.

YAML is composed into nodes (which carry line numbers) and converted to plain Python while
recording the line of every key, so a pydantic error location like
`("autoscaling", "min_replicas")` maps back to the line a user has to edit.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mlserve.contract.kind import Kind
from mlserve.errors import SpecError, SpecErrors
from mlserve.spec.asyncapi import AsyncAPISpec
from mlserve.spec.batchapi import BatchAPISpec, TaskAPISpec, check_jobs
from mlserve.spec.checks import check_project, check_splitters
from mlserve.spec.models import APISpec, FieldRule, Project
from mlserve.spec.splitter import TrafficSplitterSpec

KINDS: dict[str, type[BaseModel]] = {Kind.REALTIME_API: APISpec, Kind.TRAFFIC_SPLITTER: TrafficSplitterSpec,
                                     Kind.ASYNC_API: AsyncAPISpec, Kind.BATCH_API: BatchAPISpec,
                                     Kind.TASK_API: TaskAPISpec}


def _model_of(item: dict) -> type[BaseModel]:
    """The model an entry is validated with (an unknown kind was reported before: `_unknown_kind`)."""
    kind = item.get("kind")
    return KINDS.get(kind, APISpec) if isinstance(kind, str) else APISpec


def _unknown_kind(item: dict, name: str | None, file: str, line: int | None) -> SpecError | None:
    """The one error for a `kind` mlserve does not serve (its other fields would only add noise)."""
    kind = item.get("kind", Kind.REALTIME_API)
    if isinstance(kind, str) and kind in KINDS:
        return None
    served = ", ".join(KINDS)
    if not isinstance(kind, str):
        return SpecError(f"kind: {kind!r} is not a kind", file=file, line=line, api=name,
                         hint=f"write one of {served}, e.g. kind: {Kind.REALTIME_API}")
    close = difflib.get_close_matches(kind, list(KINDS), n=1)
    return SpecError(f"kind: '{kind}' is not a kind", file=file, line=line, api=name,
                     hint=f"did you mean '{close[0]}'?" if close else f"the kinds are {served}")

Lines = dict[tuple, int]


def _to_python(node: yaml.Node, path: tuple, lines: Lines) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            key = _to_python(key_node, path, {})
            if key in out:
                raise SpecError(
                    f"duplicate key '{key}'", line=key_node.start_mark.line + 1,
                    hint="remove one of the two entries",
                )
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(n, path + (i,), lines) for i, n in enumerate(node.value)]
    return yaml.SafeLoader.construct_object(yaml.SafeLoader(""), node, deep=True)


def parse_yaml(text: str, file: str) -> tuple[Any, Lines]:
    """Parse YAML text; return (data, {path: line})."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(
            f"invalid YAML: {problem}", file=file, line=line,
            hint="check indentation and that every 'key: value' pair has a space after the colon",
        ) from None
    lines: Lines = {}
    if node is None:
        return None, lines
    try:
        return _to_python(node, (), lines), lines
    except SpecError as e:
        raise SpecError(e.message, file=file, line=e.line, hint=e.hint) from None


def _model_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The valid field names of the (nested) model that `loc`'s parent points into."""
    for part in loc[:-1]:
        if not isinstance(part, str):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nested is None:
            return []
        model = nested
    return list(model.model_fields)


def _line_of(path: tuple, lines: Lines) -> int | None:
    """The line of `path`, or of its nearest parent in the file (a missing field: its mapping)."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


def error_message(err: ErrorDetails) -> str:
    """A pydantic error's message: our validators' ValueError travels in ctx["error"] (so no
    "Value error, " prefix to strip); pydantic's own checks have only `msg`."""
    cause = (err.get("ctx") or {}).get("error")
    return str(cause) if isinstance(cause, ValueError) else err["msg"]


def _format_validation_error(err: ErrorDetails, api_index: int, api_name: str | None,
                             file: str, lines: Lines, model: type[BaseModel] = APISpec) -> SpecError:
    """One pydantic error as a SpecError, read from its structured parts (`loc`, `type`, `ctx`)."""
    loc = tuple(p for p in err["loc"] if p not in ("function-after",))
    kind, ctx = err["type"], err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldRule):
        # A rule across fields ("min_replicas (5) must be <= ...") is reported at the field it names.
        loc += tuple(cause.field.split("."))
    line = _line_of((api_index,) + loc, lines)
    path = ".".join(str(p) for p in loc)
    if isinstance(cause, FieldRule):
        return SpecError(f"{path} {cause.rule}", file=file, line=line, api=api_name, hint=cause.hint)
    if kind == "extra_forbidden":
        valid = _model_fields(model, loc)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"valid fields: {', '.join(valid)}"
        return SpecError(f"unknown field '{loc[-1]}'", file=file, line=line, api=api_name,
                         field=".".join(str(p) for p in loc[:-1]) or None, hint=hint)
    if kind == "missing":
        return SpecError("is required", file=file, line=line, api=api_name, field=path or None,
                         hint=f"add '{loc[-1]}:' to this api")
    message = error_message(err)
    if kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"{message} (got {err.get('input')!r})"
    return SpecError(message, file=file, line=line, api=api_name, field=path or None)


def load_project(path: str | Path) -> Project:
    """Read, validate and cross-check a cortex.yaml; raise SpecError(s) on any problem."""
    path = Path(path)
    shown = str(path)
    if path.is_dir():
        path = path / "cortex.yaml"
        shown = str(path)
    if not path.is_file():
        raise SpecError(
            f"{shown} not found",
            hint="run mlserve in the folder holding cortex.yaml or pass its path: mlserve deploy path/to/cortex.yaml",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=shown) from None
    data, lines = parse_yaml(text, shown)
    if data is None:
        raise SpecError("the file is empty", file=shown, hint="list your APIs: - name: my-api ...")
    if isinstance(data, dict):
        data, lines = [data], {(0,) + k: v for k, v in lines.items()}
    if not isinstance(data, list):
        raise SpecError("must be a list of APIs (each item starting with '- name:')", file=shown, line=1)

    apis: list[APISpec] = []
    splitters: list[TrafficSplitterSpec] = []
    async_apis: list[AsyncAPISpec] = []
    batch_apis: list[BatchAPISpec] = []
    task_apis: list[TaskAPISpec] = []
    errors: list[SpecError] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            errors.append(SpecError(f"item {i + 1} must be a mapping with at least 'name' and 'predictor'",
                                    file=shown, line=lines.get((i,))))
            continue
        name = item.get("name") if isinstance(item.get("name"), str) else None
        if (unknown := _unknown_kind(item, name, shown, lines.get((i, "kind")))) is not None:
            errors.append(unknown)
            continue
        model = _model_of(item)
        try:
            parsed = model.model_validate(item)
            if isinstance(parsed, TrafficSplitterSpec):
                splitters.append(parsed)
            elif isinstance(parsed, AsyncAPISpec):  # before APISpec: it extends it
                async_apis.append(parsed)
            elif isinstance(parsed, APISpec):
                apis.append(parsed)
            elif isinstance(parsed, BatchAPISpec):
                batch_apis.append(parsed)
            elif isinstance(parsed, TaskAPISpec):
                task_apis.append(parsed)
        except ValidationError as e:
            errors.extend(_format_validation_error(err, i, name, shown, lines, model)
                          for err in e.errors(include_url=False))
    if errors:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)

    project = Project(file=path.resolve(), root=path.resolve().parent, apis=apis, splitters=splitters,
                      async_apis=async_apis, batch_apis=batch_apis, task_apis=task_apis)
    # The checks number entries per list; map their index back to the entry in the file.
    def line_of(*models: type[BaseModel]):
        items = [i for model in models for i, item in enumerate(data) if _model_of(item) is model]
        return lambda i, *field: lines.get((items[i],) + field) or lines.get((items[i],))

    # APIs of both kinds share names, endpoints and ports, and their predictor rules.
    check_project(project.model_copy(update={"apis": apis + async_apis}), shown, line_of(APISpec, AsyncAPISpec))
    check_splitters(project, shown, line_of(TrafficSplitterSpec))
    check_jobs(project, shown, line_of(BatchAPISpec, TaskAPISpec))
    return project


def field_error(project: Project, api: str, field: str, message: str, hint: str) -> SpecError:
    """A SpecError at an API's field (dotted path) of a loaded project, its line found again in the file:
    for checks that need the environment or the cluster, made after loading."""
    line = None
    try:
        data, lines = parse_yaml(project.file.read_text(encoding="utf-8"), str(project.file))
    except (OSError, UnicodeDecodeError, SpecError):
        data, lines = None, {}
    if isinstance(data, dict):
        data, lines = [data], {(0,) + k: v for k, v in lines.items()}
    if isinstance(data, list):
        index = next((i for i, item in enumerate(data) if isinstance(item, dict) and item.get("name") == api), None)
        if index is not None:
            line = _line_of((index, *field.split(".")), lines)
    return SpecError(message, file=str(project.file), line=line, api=api, field=field, hint=hint)
