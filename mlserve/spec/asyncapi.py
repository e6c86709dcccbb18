"""`kind: AsyncAPI`: the predictor contract of a RealtimeAPI, answered later.

`POST <endpoint>` queues the payload and answers `{"id"}` at once; `GET <endpoint>/<id>` answers the
record (`in_queue`, `in_progress`, `completed` with the result, or `failed` with the error). The
predictor, compute, autoscaling, update strategy and networking are a RealtimeAPI's (the model
below extends `APISpec`); what is its own:

    - name: story-generator-async
      kind: AsyncAPI
      predictor: {path: predictors/story.py}
      queue:
        result_ttl: 1d          # how long records are kept (default one day)
        max_attempts: 3         # deliveries before an item whose worker keeps dying fails
        visibility_timeout: 30s # a worker renews its lease every third of this while predicting
        workers: 1              # local worker processes
        partial_interval: 1s    # a predictor with stream(): run through it, the record showing the output
                                # so far this often, the result what the generator returns at its end
                                # (default: off, predict() runs)
      webhook:                  # optional: the record is POSTed here once the item is done
        url: http://127.0.0.1:9000/done
        retries: 3
        backoff: 1s             # before the first retry, doubled each time

`autoscaling.max_replica_concurrency` bounds the unfinished items (waiting plus running): past it
a submission gets 503 with Retry-After.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlserve.contract.kind import Kind
from mlserve.spec.fields import Duration, _Strict
from mlserve.spec.models import APISpec


class AsyncQueue(_Strict):
    result_ttl: Duration = Field(default=86400.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)
    visibility_timeout: Duration = Field(default=30.0, ge=1, le=43200)
    workers: int = Field(default=1, ge=1, le=64)
    # Set: a predictor with stream() is run through it, the record's `partial` holding its items so far
    # (refreshed this often) and its `result` what the generator returned at its end (the answer predict()
    # gives: README#asyncapi), or, if it returned nothing, the items joined (text) or listed. None:
    # predict() runs, as realtime.
    partial_interval: Duration | None = Field(default=None, gt=0)


class Webhook(_Strict):
    url: str
    retries: int = Field(default=3, ge=0, le=20)
    backoff: Duration = Field(default=1.0, gt=0, le=3600)
    timeout: Duration = Field(default=10.0, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"'{v}' must be an http:// or https:// URL")
        return v


class AsyncAPISpec(APISpec):
    wakes_from_zero = True  # the autoscaler reads its queue without workers: a waiting item brings one back
    kind: Literal[Kind.ASYNC_API] = Kind.ASYNC_API  # type: ignore[assignment]  # a narrower kind
    queue: AsyncQueue = Field(default_factory=AsyncQueue)
    webhook: Webhook | None = None
