"""What the AsyncAPI's programs (gateway, worker, launcher) do first: their common arguments, then
the spec, the queue and the records opened, or a one-line error and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys

from mlserve.asyncapi.records import load, stores
from mlserve.contract import env
from mlserve.errors import MlserveError
from mlserve.queues import ResultStore, WorkQueue
from mlserve.spec import AsyncAPISpec
from mlserve.spec.models import Project

EXIT_USAGE = 2


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--spec", default=os.environ.get(env.SPEC), help=f"cortex.yaml [env {env.SPEC}]")
    p.add_argument("--api", default=os.environ.get(env.API), help=f"the AsyncAPI [env {env.API}]")
    return p


def open_api(p: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Project, AsyncAPISpec, WorkQueue,
                                                                               ResultStore]:
    """Logging configured, the API's spec loaded, its queue and records opened (SystemExit(2) if not)."""
    if not args.spec or not args.api:
        p.error("--spec and --api are required (or set MLSERVE_SPEC and MLSERVE_API)")
    from mlserve.logs import configure

    configure(args.api)
    try:
        project, api = load(args.spec, args.api)
        queue, results = stores()
    except MlserveError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    return project, api, queue, results
