"""What `POST <endpoint>` of a job API takes (Cortex's job submission), and the batches it makes.

    {"workers": 2,
     "item_list": {"items": [...], "batch_size": 10},               # or one of:
     "file_path_lister": {"paths": ["docs/"], "includes": ["**.txt"], "excludes": [], "batch_size": 4},
     "delimited_files": {"paths": ["rows.jsonl"], "batch_size": 100},  # JSON lines, one item each
     "config": {...},                          # merged over the API's predictor.config
     "timeout": 3600,                          # seconds; the job ends timed_out after it
     "retry": {"max_attempts": 3, "visibility_timeout": 30}}

Local `paths` are files or folders, relative to the folder holding cortex.yaml; `s3_paths` are
`s3://BUCKET/PREFIX` objects or prefixes (listed with the job service's AWS settings; the items are
their s3:// URLs). Includes and excludes are globs over the path or URL. A TaskAPI takes only `config` and `timeout`. A malformed
submission is a RequestError (400) naming the field.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from mlserve.errors import RequestError
from mlserve.spec.fields import FieldRule, _Strict
from mlserve.spec.loader import error_message

SOURCES = ("item_list", "file_path_lister", "delimited_files")


class ItemList(_Strict):
    items: list = Field(min_length=1)
    batch_size: int = Field(ge=1)


class FileSource(_Strict):
    paths: list[str] | None = Field(default=None, min_length=1)
    s3_paths: list[str] | None = None
    includes: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)
    batch_size: int = Field(ge=1)

    @model_validator(mode="after")
    def _one_kind(self) -> FileSource:
        if (self.paths is None) == (self.s3_paths is None):
            raise FieldRule("paths", "— give exactly one of paths (files or folders, relative to the folder "
                                     "holding cortex.yaml) and s3_paths (s3://BUCKET/PREFIX)")
        if any(not p.startswith("s3://") for p in self.s3_paths or []):
            raise FieldRule("s3_paths", "must be s3://BUCKET/PREFIX URLs")
        return self


class Retry(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=100)  # deliveries of a batch before its dead letter
    visibility_timeout: float = Field(default=30.0, gt=0, le=43200)  # renewed while a batch runs


class TaskSubmission(_Strict):
    config: dict = Field(default_factory=dict)
    timeout: float | None = Field(default=None, gt=0)


class BatchSubmission(TaskSubmission):
    workers: int = Field(default=1, ge=1, le=64)
    item_list: ItemList | None = None
    file_path_lister: FileSource | None = None
    delimited_files: FileSource | None = None
    retry: Retry = Field(default_factory=Retry)

    @model_validator(mode="after")
    def _one_source(self) -> BatchSubmission:
        given = [s for s in SOURCES if getattr(self, s) is not None]
        if len(given) != 1:
            raise FieldRule(given[1] if given else "item_list",
                            f"— give exactly one of {', '.join(SOURCES)} (got {', '.join(given) or 'none'})")
        return self


def parse(body: bytes, model: type[TaskSubmission]) -> TaskSubmission:
    """The submission in `body`, or a RequestError naming the field that is wrong."""
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(f"the job submission is not JSON: {e}", hint="send a JSON object") from None
    if not isinstance(data, dict):
        raise RequestError("the job submission must be a JSON object", hint='e.g. {"item_list": {...}}')
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        cause = (err.get("ctx") or {}).get("error")
        loc = [str(p) for p in err["loc"]] + ([cause.field] if isinstance(cause, FieldRule) else [])
        message = cause.rule if isinstance(cause, FieldRule) else error_message(err)
        field = ".".join(loc) or "the submission"
        raise RequestError(f"{field}: {message}",
                           hint=f"fix '{field}' in the job submission (see README, Jobs)") from None


def _s3_objects(urls: list[str], field: str) -> list[str]:
    from mlserve.errors import QueueError
    from mlserve.queues.aws import call, client
    from mlserve.queues.s3 import parse

    found: list[str] = []
    try:
        s3 = client("s3")
        for i, url in enumerate(urls):
            bucket, prefix = parse(url.removeprefix("s3://"))
            pages = call(f"listing {url}", lambda: list(s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix)))  # noqa: B023 (called at once)
            keys = [o["Key"] for page in pages for o in page.get("Contents") or [] if not o["Key"].endswith("/")]
            if not keys:
                raise RequestError(f"{field}.s3_paths[{i}]: nothing under '{url}'",
                                   hint="check the bucket and prefix (and the job service's AWS access)")
            found += [f"s3://{bucket}/{k}" for k in keys]
    except QueueError as e:
        raise RequestError(f"{field}.s3_paths: {e}", hint=e.hint) from None
    return found


def _files(source: FileSource, root: Path, field: str) -> list[str]:
    if source.s3_paths is not None:
        return [u for u in dict.fromkeys(_s3_objects(source.s3_paths, field)) if _chosen(source, u)]
    found: list[Path] = []
    for i, text in enumerate(source.paths or []):
        path = (root / text).resolve()
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            raise RequestError(f"{field}.paths[{i}]: '{text}' does not exist (looked for {path})",
                               hint="local paths are relative to the folder holding cortex.yaml")

    return [str(p) for p in dict.fromkeys(found) if _chosen(source, str(p))]


def _chosen(source: FileSource, text: str) -> bool:
    return ((not source.includes or any(fnmatch.fnmatch(text, g) for g in source.includes))
            and not any(fnmatch.fnmatch(text, g) for g in source.excludes))


def _read(name: str) -> str:
    if name.startswith("s3://"):
        from mlserve.queues.aws import call, client
        from mlserve.queues.s3 import parse

        bucket, key = parse(name.removeprefix("s3://"))
        return call(f"reading {name}", lambda: client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode())
    return Path(name).read_text(encoding="utf-8")


def _json_lines(files: list[str], field: str) -> list[Any]:
    items = []
    for f in files:
        for n, line in enumerate(_read(f).splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as e:
                raise RequestError(f"{field}: {f}:{n} is not a JSON line: {e}",
                                   hint="delimited_files reads JSON lines: one JSON value per line") from None
    return items


def batches(sub: BatchSubmission, root: Path) -> list[list]:
    """The job's batches, in order (batch i is items [i*size, (i+1)*size))."""
    if sub.item_list is not None:
        items, size = sub.item_list.items, sub.item_list.batch_size
    elif sub.file_path_lister is not None:
        items = _files(sub.file_path_lister, root, "file_path_lister")
        size = sub.file_path_lister.batch_size
    else:
        assert sub.delimited_files is not None
        items = _json_lines(_files(sub.delimited_files, root, "delimited_files"), "delimited_files")
        size = sub.delimited_files.batch_size
    if not items:
        source = next(s for s in SOURCES if getattr(sub, s) is not None)
        raise RequestError(f"{source}: no items (no file matched)", hint="check the paths, includes and excludes")
    return [items[i:i + size] for i in range(0, len(items), size)]
