"""What the gateway and the workers share: the record of an item, the queued envelope, the stores.

A record (what `GET <endpoint>/<id>` answers) is
`{"id", "status", "result"?, "error"?, "submitted", "started"?, "finished"?, "attempts"?, "partial"?,
"webhook"?}`; `error` has mlserve's error shape `{error, request_id, hint}`.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from enum import StrEnum

from mlserve.contract import env
from mlserve.errors import MlserveError, QueueError
from mlserve.queues import ResultStore, WorkQueue, open_queue, open_results
from mlserve.spec import AsyncAPISpec, load_project
from mlserve.spec.models import Project


class State(StrEnum):
    IN_QUEUE = "in_queue"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in (State.COMPLETED, State.FAILED)


# The headers a submission keeps for its predictor (the payload's decoding and what predict may read).
KEPT_HEADERS = ("content-type", "x-request-id", "x-session-id")


@dataclass(frozen=True)
class Envelope:
    """One queued submission: the body as sent, the headers and query its predictor gets."""

    body: bytes
    headers: dict[str, str]
    query: dict[str, str]

    def dumps(self) -> bytes:
        return json.dumps({"body": base64.b64encode(self.body).decode(), "headers": self.headers,
                           "query": self.query}).encode()

    @classmethod
    def loads(cls, data: bytes) -> Envelope:
        raw = json.loads(data)
        return cls(base64.b64decode(raw["body"]), raw["headers"], raw["query"])


def new_record(item_id: str) -> dict:
    return {"id": item_id, "status": State.IN_QUEUE, "submitted": time.time()}


def error_of(err: MlserveError, request_id: str, hint: str) -> dict:
    return {"error": err.message, "request_id": request_id, "hint": err.hint or hint}


def stores() -> tuple[WorkQueue, ResultStore]:
    """The queue and result store the environment names (a process boundary: gateway, workers)."""
    queue, results = os.environ.get(env.ASYNC_QUEUE), os.environ.get(env.ASYNC_RESULTS)
    if not queue or not results:
        raise QueueError(f"{env.ASYNC_QUEUE} and {env.ASYNC_RESULTS} must both be set",
                         hint="set them to the queue's and the result store's URLs, e.g. sqlite:///abs/path.db")
    return open_queue(queue), open_results(results)


def find(project: Project, name: str) -> AsyncAPISpec:
    api = project.api(name)
    if not isinstance(api, AsyncAPISpec):
        raise QueueError(f"{project.file}: '{name}' is a {api.kind}, not an AsyncAPI",
                         hint="pass the name of a `kind: AsyncAPI` entry of this cortex.yaml")
    return api


def load(spec: str, name: str) -> tuple[Project, AsyncAPISpec]:
    project = load_project(spec)
    return project, find(project, name)
