"""`mlserve.Client`: deploy, inspect, call and delete a project's APIs from Python.

    import mlserve
    client = mlserve.Client(spec="cortex.yaml")      # env: None = $MLSERVE_ENV or your default
    client.deploy()
    print(client.predict("text-stats", {"text": "hello world"}).json())
    for event in client.predict("text-generator", {"prompt": "Hi"}, stream=True):
        print(event.data)
    item = client.submit("story-generator-async", {"prompt": "Once"})   # an AsyncAPI: answered later
    print(client.result("story-generator-async", item, wait=True))
    client.delete()

The CLI commands are thin layers over this class, so both behave the same. Errors are
mlserve's own (`mlserve.errors`), e.g. PredictionFailed for an API's error answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mlserve.deploy.base import APIStatus, Backend, DeployResult, Progress
from mlserve.errors import PredictionFailed
from mlserve.predictions import (
    EVENT_STREAM,
    Event,
    EventParser,
    Prediction,
    Request,
    build_request,
    check,
    prediction,
    unreachable,
)

if TYPE_CHECKING:
    from mlserve.spec import Project

DEFAULT_TIMEOUT = 300.0


def _quiet(_message: str) -> None:
    pass


class Client:
    """The APIs of one project (`spec`: its cortex.yaml or folder) in one environment."""

    def __init__(self, env: str | None = None, spec: str | Path = "cortex.yaml", *,
                 progress: Progress | None = None) -> None:
        self.env = env
        self.spec = Path(spec)
        self.progress = progress or _quiet  # receives "qa: starting on port …" style messages

    @cached_property
    def backend(self) -> Backend:
        from mlserve.deploy.registry import backend_for

        return backend_for(self.env, self.spec)

    # -- lifecycle -------------------------------------------------------------------------

    def deploy(self, *, force: bool = False, project: Project | None = None) -> list[DeployResult]:
        """Make what runs match the spec (or `project`, when already loaded from it); blocks until every
        API is ready (DeployError if not)."""
        from mlserve.spec import load_project
        from mlserve.spec.api_key import read_api_key

        project = project or load_project(self.spec)
        for api in project.served():
            read_api_key(api)  # a protected API must never start open: refuse before touching anything
        self.spec = project.file
        self.__dict__.pop("backend", None)  # the spec may have been a folder
        return self.backend.deploy(project, self.progress, force=force)

    def get(self, api: str | None = None) -> list[APIStatus] | APIStatus:
        """Every deployed API of the project, or one API in detail (NotDeployed if it is not)."""
        if api is None:
            return self.backend.status(None)
        return self.backend.status(api, detail=True)[0]

    def logs(self, api: str, *, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """The API's log lines; with follow, new lines as they come until the caller stops."""
        return self.backend.logs(api, follow=follow, tail=tail)

    def refresh(self, api: str) -> DeployResult:
        """Restart an API with the spec it was deployed with; blocks until it is ready."""
        return self.backend.refresh(api, self.progress)

    def delete(self, api: str | None = None) -> list[DeployResult]:
        """Delete one API, or every API of the project when `api` is None."""
        return self.backend.delete(api, self.progress)

    def endpoint(self, api: str) -> str:
        return self.backend.endpoint(api)

    def is_async(self, api: str) -> bool:
        """Whether the spec declares `api` an AsyncAPI (submit/status/result rather than predict)."""
        from mlserve.contract.kind import Kind
        from mlserve.errors import MlserveError
        from mlserve.spec import load_project

        try:
            return load_project(self.spec).api(api).kind == Kind.ASYNC_API
        except MlserveError:
            return False

    def key_headers(self, api: str) -> dict[str, str]:
        """The API's key, when its networking.api_key_env is set in this environment (the API
        answers 401 without it)."""
        import os

        from mlserve.errors import MlserveError
        from mlserve.spec import load_project

        try:
            name = load_project(self.spec).api(api).networking.api_key_env
        except MlserveError:
            return {}  # no readable spec here (e.g. a splitter's name): send no key
        key = os.environ.get(name or "", "")
        return {"authorization": f"Bearer {key}"} if key else {}

    # -- jobs (BatchAPI, TaskAPI; mlserve/jobs/) ----------------------------------------------

    def submit_job(self, api: str, submission: dict, *, timeout: float = 60.0) -> dict:
        """Submit a job (mlserve/jobs/submission.py: item_list / file_path_lister / delimited_files,
        workers, config, timeout, retry); returns its record, whose `job_id` names it."""
        return self._job_call("POST", api, timeout, json=submission)

    def job(self, api: str, job_id: str | None = None) -> dict:
        """One job's record (status, batches total/succeeded/failed, times, workers), or with no id
        {"jobs": [...]}, newest first."""
        return self._job_call("GET", api, 30.0, params={"jobID": job_id} if job_id else None)

    def stop_job(self, api: str, job_id: str) -> dict:
        """Stop a job; answers once its workers are gone, with its record."""
        return self._job_call("DELETE", api, 60.0, params={"jobID": job_id})

    def job_logs(self, api: str, job_id: str, *, tail: int = 0) -> list[str]:
        """A job's own log lines (every one names the job)."""
        url = self.endpoint(api).rstrip("/") + "/logs"
        return self._http(api, "GET", url, 30.0, params={"jobID": job_id, "tail": tail}).text.splitlines()

    def _job_call(self, method: str, api: str, timeout: float, **kwargs: Any) -> dict:
        return self._http(api, method, self.endpoint(api), timeout, **kwargs).json()

    def _http(self, api: str, method: str, url: str, timeout: float, **kwargs: Any) -> httpx.Response:
        try:
            response = httpx.request(method, url, headers=self.key_headers(api), timeout=timeout, **kwargs)
        except httpx.TransportError as e:
            raise unreachable(api, url, e) from None
        check(api, response)
        return response

    # -- predictions -----------------------------------------------------------------------

    def predict(self, api: str, payload: Any, *, stream: bool = False, content_type: str | None = None,
                headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> Prediction | Iterator[Event]:
        """POST `payload` (dict/list/pydantic model: JSON, str: text, bytes: as is), with `params` as
        the query string (the predictor's query_params, e.g. {"model": "iris", "version": 2}).
        Returns a Prediction, or with stream=True an iterator of the answer's Server-Sent Events.
        An error answer raises PredictionFailed (its status_code says which)."""
        request = build_request(payload, content_type=content_type, stream=stream, headers=headers, params=params)
        if stream:
            return self._events(api, request, timeout)
        with self.post(api, request, timeout=timeout) as response:
            response.read()
            return prediction(api, response)

    @contextmanager
    def post(self, api: str, request: Request, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[httpx.Response]:
        """The API's answer, open for streaming; raises PredictionFailed for an error answer."""
        url = self.endpoint(api)
        try:
            with httpx.stream("POST", url, content=request.content, params=request.params,
                              headers={**self.key_headers(api), **request.headers}, timeout=timeout) as response:
                if not response.is_success:
                    response.read()
                    check(api, response)
                yield response
        except httpx.TransportError as e:
            raise unreachable(api, url, e) from None

    def _events(self, api: str, request: Request, timeout: float) -> Iterator[Event]:
        with self.post(api, request, timeout=timeout) as response:
            if not response.headers.get("content-type", "").startswith(EVENT_STREAM):
                response.read()  # a predictor without stream(): its one answer as one event
                yield Event(response.text)
                return
            parser = EventParser(api)
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event
                if parser.done:
                    return


    # -- AsyncAPIs: submit now, read the result later -------------------------------------------

    def submit(self, api: str, payload: Any, *, content_type: str | None = None, headers: dict[str, str] | None = None,
               params: dict[str, Any] | None = None, timeout: float = 60.0) -> str:
        """Queue `payload` at an AsyncAPI (encoded as for `predict`); returns the item's id."""
        request = build_request(payload, content_type=content_type, headers=headers, params=params)
        with self.post(api, request, timeout=timeout) as response:
            response.read()
            try:
                return response.json()["id"]
            except (ValueError, KeyError, TypeError):
                raise PredictionFailed(f"api '{api}' did not answer an id ({response.text[:200]!r})",
                                       hint=f"submit() is for AsyncAPIs; `mlserve get {api}` shows its kind") from None

    def status(self, api: str, item_id: str, *, timeout: float = 30.0) -> dict:
        """An AsyncAPI item's record: {"id", "status" (in_queue, in_progress, completed, failed), "result"?, ...}."""
        url = f"{self.endpoint(api).rstrip('/')}/{item_id}"
        try:
            response = httpx.get(url, headers=self.key_headers(api), timeout=timeout)
        except httpx.TransportError as e:
            raise unreachable(api, url, e) from None
        check(api, response)
        return response.json()

    def result(self, api: str, item_id: str, *, wait: bool = False, timeout: float = DEFAULT_TIMEOUT,
               poll: float = 0.5) -> Any:
        """A completed item's result; with wait=True, polls until it is done (at most `timeout` seconds).
        A failed item raises PredictionFailed with its error; an unfinished one (without wait) too."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.status(api, item_id)
            if record["status"] == "completed":
                return record.get("result")
            if record["status"] == "failed":
                error = record.get("error") or {}
                raise PredictionFailed(f"api '{api}': item {item_id} failed: {error.get('error')}", hint=error.get("hint"))
            if not wait or time.monotonic() >= deadline:
                raise PredictionFailed(f"api '{api}': item {item_id} is {record['status']}"
                                       + (f" after {timeout:g}s" if wait else ""),
                                       hint="wait longer (result(wait=True, timeout=...)) or poll status()")
            time.sleep(poll)


class AsyncClient:
    """Predictions without blocking an event loop; endpoints come from a Client's backend."""

    def __init__(self, env: str | None = None, spec: str | Path = "cortex.yaml") -> None:
        self.client = Client(env, spec)
        self._endpoints: dict[str, str] = {}

    def _endpoint(self, api: str) -> str:
        if api not in self._endpoints:
            self._endpoints[api] = self.client.endpoint(api)
        return self._endpoints[api]

    def _headers(self, api: str, request: Request) -> dict[str, str]:
        return {**self.client.key_headers(api), **request.headers}

    async def predict(self, api: str, payload: Any, *, content_type: str | None = None,
                      headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
                      timeout: float = DEFAULT_TIMEOUT) -> Prediction:
        request = build_request(payload, content_type=content_type, headers=headers, params=params)
        url = self._endpoint(api)
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                response = await http.post(url, content=request.content, params=request.params,
                                           headers=self._headers(api, request))
        except httpx.TransportError as e:
            raise unreachable(api, url, e) from None
        check(api, response)
        return prediction(api, response)

    async def stream(self, api: str, payload: Any, *, headers: dict[str, str] | None = None,
                     params: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT) -> AsyncIterator[Event]:
        """The Server-Sent Events of a streamed answer, as they arrive."""
        request = build_request(payload, stream=True, headers=headers, params=params)
        url = self._endpoint(api)
        parser = EventParser(api)
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                async with http.stream("POST", url, content=request.content, params=request.params,
                                       headers=self._headers(api, request)) as response:
                    if not response.is_success:
                        await response.aread()
                        check(api, response)
                    async for line in response.aiter_lines():
                        event = parser.feed(line)
                        if event is not None:
                            yield event
                        if parser.done:
                            return
        except httpx.TransportError as e:
            raise unreachable(api, url, e) from None
