"""`python -m mlserve.jobs --spec S --api A --port P --jobs-dir D`: a job API's service (service.py)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from mlserve.errors import MlserveError
from mlserve.jobs.service import JobService, build_app
from mlserve.jobs.store import JobStore
from mlserve.logs import configure
from mlserve.spec import load_project

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlserve.jobs", description="Serve a BatchAPI or TaskAPI.")
    parser.add_argument("--spec", required=True, type=Path, help="the cortex.yaml holding the API (a snapshot)")
    parser.add_argument("--api", required=True)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--jobs-dir", required=True, type=Path, help="where the API's jobs are kept")
    parser.add_argument("--root", type=Path, help="the folder local job paths are relative to "
                                                  "(default: the folder of --spec)")
    args = parser.parse_args(argv)
    configure(args.api)
    try:
        project = load_project(args.spec)
        entry = project.entry(args.api)
        args.jobs_dir.mkdir(parents=True, exist_ok=True)
        service = JobService(entry, (args.root or project.root).resolve(), project.file, JobStore(args.jobs_dir))
        service.resume()
    except MlserveError as e:
        logging.getLogger("mlserve.jobs").error("%s", e)
        return EXIT_USAGE
    uvicorn.run(build_app(service), host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
