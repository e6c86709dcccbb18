"""The runtime entrypoint: `python -m mlserve.runtime --spec cortex.yaml --api NAME`.

Exit codes: 0 normal shutdown, 2 bad arguments or spec (a message, no traceback), 3 the
predictor failed to load or its `__init__` raised (the user's traceback on stderr).
Environment fallbacks (for containers): MLSERVE_SPEC, MLSERVE_API, MLSERVE_HOST, MLSERVE_PORT.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile

from mlserve.contract import env
from mlserve.errors import MlserveError

EXIT_USAGE = 2
EXIT_PREDICTOR = 3
EXIT_PORT_TAKEN = 4
DEFAULT_PORT = 8080
# Uvicorn imports the worker app by this name in each worker process.
WORKER_FACTORY = "mlserve.runtime.server:worker_app"
log = logging.getLogger("mlserve.runtime")


def configure_logging(api: str | None = None) -> None:
    """Access log to stdout, everything else to stderr, in mlserve's one format (mlserve/logs.py)."""
    from mlserve.logs import configure

    configure(api)


def _exit_on_init_failure(error: MlserveError) -> None:
    # Called from the loading thread once the traceback is logged: the process must die so a
    # supervisor (the local backend, uvicorn's worker supervisor, Kubernetes) sees it.
    for stream in (sys.stderr, sys.stdout):
        stream.flush()
    os._exit(EXIT_PREDICTOR)


def _parser() -> argparse.ArgumentParser:
    environ = os.environ
    parser = argparse.ArgumentParser(prog="python -m mlserve.runtime",
                                     description="Serve one API of a cortex.yaml over HTTP.")
    parser.add_argument("--spec", default=environ.get(env.SPEC),
                        help=f"path to cortex.yaml (or its folder) [env {env.SPEC}]")
    parser.add_argument("--api", default=environ.get(env.API), help=f"the API to serve [env {env.API}]")
    parser.add_argument("--host", default=environ.get(env.HOST, "127.0.0.1"),
                        help=f"address to bind [env {env.HOST}, default 127.0.0.1]")
    parser.add_argument("--port", type=int, default=environ.get(env.PORT),
                        help=f"port [env {env.PORT}; default networking.local_port or {DEFAULT_PORT}]")
    parser.add_argument("--models", default=environ.get(env.MODELS_FILE),
                        help="a multi-model API's deployed models list (JSON, re-read while serving), "
                             f"instead of the spec's [env {env.MODELS_FILE}]")
    return parser


def _load(spec: str, name: str):
    from mlserve.spec import load_project

    project = load_project(spec)
    return project, project.api(name)


def _uvicorn_options(api, host: str, port: int) -> dict:
    from mlserve.runtime.protocol import PROTOCOL

    return dict(host=host, port=port, log_config=None, access_log=False, lifespan="on", http=PROTOCOL,
                server_header=False, timeout_graceful_shutdown=int(api.predictor.request_timeout) + 5)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.spec or not args.api:
        parser.error("--spec and --api are required (or set MLSERVE_SPEC and MLSERVE_API)")
    configure_logging(args.api)
    try:
        project, api = _load(args.spec, args.api)
    except MlserveError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    port = args.port or api.networking.local_port or DEFAULT_PORT
    if api.compute.gpu == 0:
        # An API that asked for no GPU must not take one from its neighbours ("auto" devices then pick the CPU).
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    os.environ.update(api.predictor.env)
    if args.models:  # absolute before the chdir below; worker processes inherit it
        os.environ[env.MODELS_FILE] = os.path.abspath(args.models)
    os.chdir(project.root)  # as in Cortex, predictors run from the project folder
    processes = api.predictor.processes_per_replica

    import uvicorn

    options = _uvicorn_options(api, args.host, port)
    try:  # before the model loads: a taken port fails at once, and says so
        sock = _bind(args.host, port)
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{port}: {e.strerror} (another program holds the port)",
              file=sys.stderr)
        return EXIT_PORT_TAKEN
    if processes == 1:
        from mlserve.runtime.app import create_app

        try:
            app = create_app(project.root, api, on_init_failure=_exit_on_init_failure)
        except MlserveError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
        server = uvicorn.Server(uvicorn.Config(app, **options))
        # Uvicorn re-raises the signal that stopped it once it has drained; a stop that was
        # asked for is a normal exit (0), not death by signal.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        server.run(sockets=[sock])
        return 0 if server.started else 1
    return _run_workers(project, api, processes, options, sock)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)  # worker processes serve on it
    return sock


def _run_workers(project, api, processes: int, options: dict, sock: socket.socket) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # Metrics from every worker are merged through files in this folder.
    metrics_dir = tempfile.mkdtemp(prefix=f"mlserve-metrics-{api.name}-")
    os.environ.update({env.SPEC: str(project.file), env.API: api.name, "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
                       env.PROCESSES: str(processes)})
    try:
        config = uvicorn.Config(WORKER_FACTORY, factory=True, workers=processes, **options)
        supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if any(p.exitcode == EXIT_PREDICTOR for p in supervisor.processes):
        return EXIT_PREDICTOR
    return 0


def worker_app():
    """The app of one worker process (uvicorn factory); the parent set the environment."""
    from mlserve.runtime.app import create_app

    configure_logging(os.environ[env.API])
    project, api = _load(os.environ[env.SPEC], os.environ[env.API])
    return create_app(project.root, api, processes=int(os.environ[env.PROCESSES]),
                      metrics_dir=os.environ["PROMETHEUS_MULTIPROC_DIR"],
                      on_init_failure=_exit_on_init_failure)
