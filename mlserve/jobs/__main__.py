"""`python -m mlserve.jobs --spec S --api A --port P --jobs-dir D`: a job API's service (service.py).

D is a local folder (workers are child processes: processes.py) or, on a cluster, the job API's
records in S3 (s3_store.py) with `--queue-prefix` naming its jobs' SQS queues; there each job's
workers are a Kubernetes Job made from the template in MLSERVE_JOB_TEMPLATE (kube_workers.py)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from mlserve.errors import MlserveError
from mlserve.jobs.location import open_store
from mlserve.jobs.processes import LocalProcesses
from mlserve.jobs.runner import Placement
from mlserve.jobs.service import JobService, build_app
from mlserve.logs import configure
from mlserve.spec import load_project

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlserve.jobs", description="Serve a BatchAPI or TaskAPI.")
    parser.add_argument("--spec", required=True, type=Path, help="the cortex.yaml holding the API (a snapshot)")
    parser.add_argument("--api", required=True)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--jobs-dir", required=True, help="where the API's jobs are kept: a folder or s3://BUCKET/PREFIX")
    parser.add_argument("--queue-prefix", default="", help="on a cluster: the start of its jobs' SQS queue names")
    parser.add_argument("--root", type=Path, help="the folder local job paths are relative to "
                                                  "(default: the folder of --spec)")
    args = parser.parse_args(argv)
    configure(args.api)
    try:
        project = load_project(args.spec)
        entry = project.entry(args.api)
        store = open_store(args.jobs_dir, args.queue_prefix)
        placement: Placement
        if store.folder is None:
            from mlserve.jobs.kube_workers import KubeJobs

            placement = KubeJobs.in_cluster(entry.name, store)
        else:
            store.folder.mkdir(parents=True, exist_ok=True)
            placement = LocalProcesses()
        service = JobService(entry, (args.root or project.root).resolve(), project.file, store, placement)
        service.resume()
    except MlserveError as e:
        logging.getLogger("mlserve.jobs").error("%s", e)
        return EXIT_USAGE
    uvicorn.run(build_app(service), host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
