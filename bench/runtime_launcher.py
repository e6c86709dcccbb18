"""The mlserve runtime on a chosen event loop and HTTP parser, to measure uvicorn's fast path
(uvloop + httptools, the runtime's default) against the pure-Python one (asyncio + h11).

    python bench/runtime_launcher.py --spec cortex.yaml --api NAME --port N --loop asyncio --http h11

Same app and uvicorn options as `python -m mlserve.runtime`; only `loop` and `http` differ.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    args = parser.parse_args(argv)

    import os

    import uvicorn

    from mlserve.runtime.app import create_app
    from mlserve.runtime.server import _exit_on_init_failure, _load, _uvicorn_options, configure_logging

    configure_logging()
    project, api = _load(args.spec, args.api)
    os.environ.update(api.predictor.env)
    os.chdir(project.root)
    app = create_app(project.root, api, on_init_failure=_exit_on_init_failure)
    options = _uvicorn_options(api, args.host, args.port) | {"loop": args.loop}
    if args.http != "auto":  # auto: the runtime's own protocol (httptools with its limits)
        options["http"] = args.http
    uvicorn.Server(uvicorn.Config(app, **options)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
