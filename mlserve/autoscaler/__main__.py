"""`python -m mlserve.autoscaler`: the controller's process (one per namespace, in the cluster).

Settings come from the environment (the control-plane Deployment sets them from the mlserve
environment's autoscaler_* options):

    MLSERVE_AUTOSCALER_NAMESPACE     the namespace whose APIs it scales (default: its own)
    MLSERVE_AUTOSCALER_API_SERVER    https://host:port of the API server (default: the in-cluster service)
    MLSERVE_AUTOSCALER_SCRAPE_CIDRS  address ranges of pods it may scrape, comma-separated (default: any)
    MLSERVE_AUTOSCALER_INTERVAL      seconds between ticks (default 10)

Exit code 2 for bad settings; a failed tick is logged and the next one tries again.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from mlserve.errors import MlserveError


def main() -> int:
    from mlserve.autoscaler.controller import Config, Controller
    from mlserve.autoscaler.kube import Credentials, KubeAPI

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    log = logging.getLogger("mlserve.autoscaler")
    try:
        config = Config.from_env(os.environ)
        kube = KubeAPI(Credentials.in_cluster(config.api_server), config.namespace)
    except MlserveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    networks = ",".join(map(str, config.scrape_networks))
    log.info("scaling the APIs of namespace %s every %ss via %s; scraping pods in %s",
             config.namespace, config.interval, kube.credentials.server, networks)
    controller = Controller(kube, config)
    while not stop.is_set():
        started = time.monotonic()
        try:
            controller.tick()
        except MlserveError as e:
            log.error("tick failed: %s", e)
        stop.wait(max(0.0, config.interval - (time.monotonic() - started)))
    kube.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
