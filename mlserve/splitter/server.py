"""The splitter entrypoint: `python -m mlserve.splitter --routes FILE --port P`.

Serves the splitter's endpoint plus `/healthz`, `/readyz` (200 with the routing table's version
once it is loaded) and `/metrics`. SIGHUP re-reads the routing table (it is also re-read when the
file changes); SIGTERM stops taking connections and lets in-flight requests finish.
Exit codes: 0 normal shutdown, 2 bad arguments or routing table.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from mlserve.contract import env
from mlserve.errors import MlserveError
from mlserve.runtime.identity import instance
from mlserve.runtime.metrics import CONTENT_TYPE
from mlserve.runtime.server import configure_logging
from mlserve.splitter.proxy import Proxy
from mlserve.splitter.routes import RoutesSource

EXIT_USAGE = 2
log = logging.getLogger("mlserve.splitter")


def build_app(proxy: Proxy) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "routes": proxy.routes.version, **instance()})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=proxy.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application(client_max_size=1024 ** 3)  # body limits are the APIs' to enforce
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    return app


async def serve(source: RoutesSource, host: str, port: int, timeout: float, grace: float) -> None:
    # Keep-alive pool to the backends: a new connection per request would cost more than the proxying.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=30)
    session = aiohttp.ClientSession(connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                                    timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout))
    proxy = Proxy(source, session, timeout)
    runner = web.AppRunner(build_app(proxy), access_log=None, handle_signals=False, shutdown_timeout=grace)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, proxy.reload)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("splitter '%s' on http://%s:%d%s, routing table %s", proxy.routes.splitter, host, port,
             proxy.routes.endpoint, proxy.routes.version)
    await stop.wait()
    log.info("stopping: finishing in-flight requests (up to %.0fs)", grace)
    await runner.cleanup()
    await proxy.close()
    await session.close()


def _parser() -> argparse.ArgumentParser:
    environ = os.environ
    parser = argparse.ArgumentParser(prog="python -m mlserve.splitter",
                                     description="Spread one endpoint's requests over APIs by weight.")
    parser.add_argument("--routes", type=Path, default=environ.get(env.SPLITTER_ROUTES_FILE),
                        help="routing table file, re-read when it changes "
                             f"[default: the JSON in ${env.SPLITTER_ROUTES}]")
    parser.add_argument("--host", default=environ.get(env.HOST, "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(environ.get(env.PORT, "8080")))
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds a backend may stay silent")
    parser.add_argument("--grace", type=float, default=65.0, help="seconds in-flight requests get on SIGTERM")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    source = RoutesSource(args.routes)
    try:
        source.load()  # a bad table is a usage error, reported before binding the port
    except MlserveError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(serve(source, args.host, args.port, args.timeout, args.grace))
    return 0
