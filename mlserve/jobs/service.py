"""The job service of a BatchAPI or TaskAPI: `python -m mlserve.jobs --spec S --api A --port P --jobs-dir D`.

    POST   <endpoint>              submit a job (submission.py)      -> {"job_id", ...its record}
    GET    <endpoint>              every job, newest first           -> {"jobs": [...]}
    GET    <endpoint>?jobID=ID     one job's record
    DELETE <endpoint>?jobID=ID     stop it (its workers are gone when this answers)
    GET    <endpoint>/logs?jobID=ID[&tail=N]   its log, as text
    /healthz, /readyz

Errors answer in the one shape {error, request_id, hint}. Job records live in the job store (a
folder, or S3 on a cluster), so a restarted service (killed, or redeployed) takes its jobs up again:
locally a batch job's new workers lease what is left and a task that was running is reported failed
(it died with the service); on a cluster the job's Kubernetes Job ran on, and is watched again.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlserve.contract.kind import Kind
from mlserve.errors import MlserveError, NotFound, RequestError
from mlserve.jobs import submission
from mlserve.jobs.runner import JobRun, Placement
from mlserve.jobs.store import TERMINAL, JobStore
from mlserve.runtime.identity import instance
from mlserve.runtime.payload import error_body

log = logging.getLogger("mlserve.jobs")


def new_job_id() -> str:
    """Sortable by submission time, unique: milliseconds then random hex."""
    return f"{int(time.time() * 1000):x}{secrets.token_hex(3)}"


class JobService:
    def __init__(self, entry, root: Path, spec: Path, store: JobStore, placement: Placement) -> None:
        self.entry, self.root, self.spec, self.store, self.placement = entry, root, spec, store, placement
        self.kind = entry.kind
        self.runs: dict[str, JobRun] = {}
        self.lock = threading.Lock()

    def _start(self, record: dict, batches: list[list] | None, resuming: bool = False) -> None:
        run = JobRun(self.store, record, self.spec, self.entry.name, batches, self.placement, resuming=resuming)
        self.runs[record["job_id"]] = run
        run.thread.start()

    def resume(self) -> None:
        """Jobs a previous service left unfinished: resumed (batches) or reported (tasks)."""
        for record in self.store.all():
            if record["status"] in TERMINAL:
                continue
            lost_task = record["kind"] == Kind.TASK_API and not self.placement.survives_restart
            if lost_task or record["status"] == "enqueuing":
                # A local task died with the service; an enqueue cut short has no items list kept to redo it.
                record.update(status="failed", end_time=time.time(), worker_pids=[],
                              message="the job service restarted while this job ran; submit it again")
                self.store.save(record)
                if record["kind"] != Kind.TASK_API:
                    self.store.drop_queue(record["job_id"])
                log.warning("job %s: %s", record["job_id"], record["message"])
                continue
            self._start(record, None, resuming=True)

    def submit(self, body: bytes) -> dict:
        model = submission.BatchSubmission if self.kind == Kind.BATCH_API else submission.TaskSubmission
        sub = submission.parse(body, model)
        batches = submission.batches(sub, self.root) if isinstance(sub, submission.BatchSubmission) else None
        job_id = new_job_id()
        config = {**self.entry.predictor.config, **sub.config}
        record = {
            "job_id": job_id, "api": self.entry.name, "kind": str(self.kind), "status": "enqueuing",
            "submission": sub.model_dump(mode="json", exclude={"item_list"}), "config": config,
            "job_spec": {"job_id": job_id, "api_name": self.entry.name, "config": config,
                         "workers": getattr(sub, "workers", 1), "timeout": sub.timeout},
            "workers": getattr(sub, "workers", 1), "timeout": sub.timeout,
            "batches_total": len(batches) if batches is not None else 0, "batches_succeeded": 0,
            "batches_failed": 0, "created": time.time(), "start_time": None, "end_time": None,
            "worker_pids": [], "message": None,
            "queue": self.store.queue_url(job_id) if batches is not None else None,
        }
        with self.lock:
            self.store.add(record)
            self._start(record, batches)
        log.info("job %s: submitted (%d batches)", job_id, record["batches_total"])
        return dict(record)

    def get(self, job_id: str) -> dict:
        record = self.store.get(job_id)
        if record is None:
            raise NotFound(f"api '{self.entry.name}' has no job '{job_id}'",
                           hint=f"list the jobs with GET {self.entry.endpoint} or `mlserve get {self.entry.name}`")
        return record

    def stop(self, job_id: str) -> dict:
        record = self.get(job_id)
        run = self.runs.get(job_id)
        if run is not None and record["status"] not in TERMINAL:
            run.stop_requested.set()
            run.thread.join(timeout=30)
        return self.get(job_id)


def build_app(service: JobService) -> Starlette:
    endpoint = service.entry.endpoint

    def answer(fn):
        async def handler(request: Request) -> Response:
            request_id = uuid.uuid4().hex[:16]
            body = await request.body()
            try:
                return await run_in_threadpool(fn, request, body)  # the stores are blocking
            except MlserveError as e:
                return Response(error_body(e, request_id), status_code=e.http_status, media_type="application/json")
            except Exception as e:
                log.exception("request %s failed", request_id)
                return Response(error_body(MlserveError(f"the job service failed: {e}", hint="see the API's logs"),
                                           request_id), status_code=500, media_type="application/json")
        return handler

    def job_id(request: Request) -> str | None:
        return request.query_params.get("jobID") or request.query_params.get("job_id")

    @answer
    def jobs(request: Request, body: bytes) -> Response:
        if request.method == "POST":
            return JSONResponse(service.submit(body))
        wanted = job_id(request)
        if request.method == "DELETE":
            if not wanted:
                raise _missing_id()
            return JSONResponse(service.stop(wanted))
        if wanted:
            return JSONResponse(service.get(wanted))
        return JSONResponse({"jobs": list(reversed(service.store.all()))})

    @answer
    def logs(request: Request, _body: bytes) -> Response:
        wanted = job_id(request)
        if not wanted:
            raise _missing_id()
        record = service.get(wanted)
        lines = service.store.read_log(wanted)
        if record["status"] not in TERMINAL:
            lines += service.placement.live_log(wanted)
        tail = int(request.query_params.get("tail") or 0)
        return PlainTextResponse("\n".join(lines[-tail:] if tail else lines) + ("\n" if lines else ""))

    def readyz(_: Request) -> Response:
        return JSONResponse({"status": "ready", **instance()})

    def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        Route("/healthz", healthz), Route("/readyz", readyz),
        Route(endpoint.rstrip("/") + "/logs", logs),
        Route(endpoint, jobs, methods=["GET", "POST", "DELETE"]),
    ])


def _missing_id() -> MlserveError:
    return RequestError("jobID is required", hint="add ?jobID=<the id the submission answered>")
