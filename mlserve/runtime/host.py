"""The predictor host: loads one API's predictor and says whether it can answer.

The predictor is imported and its `__init__` run in a background thread, so /healthz and
/readyz answer while a model loads. Once loaded, `on_ready` runs on the event loop with the
instance (the data plane binds its Runner to it). A load that fails is kept in `failure`, for
/readyz and for every prediction's 503, and handed to `on_init_failure` (the entrypoint exits).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlserve.errors import MlserveError, Overloaded, PredictorError
from mlserve.runtime.identity import instance as instance_identity
from mlserve.runtime.loader import PredictorClass, load_predictor_class, user_traceback
from mlserve.spec import APISpec

log = logging.getLogger("mlserve.runtime")

# Retry-After (seconds) of a prediction refused while the predictor loads, and once it failed to load.
LOADING_RETRY_AFTER = 2
FAILED_RETRY_AFTER = 30


class PredictorHost:
    def __init__(self, root: Path, api: APISpec,
                 on_init_failure: Callable[[MlserveError], None] | None = None) -> None:
        self.root, self.api, self.on_init_failure = root, api, on_init_failure
        self.ready = False
        self.failure: MlserveError | None = None
        self.predictor: PredictorClass | None = None
        self.instance: Any = None

    def start(self, on_ready: Callable[[PredictorClass, Any], None], *,
              prepare: Callable[[], None] | None = None, python_client: Any = None,
              warm: Callable[[Any], None] | None = None) -> None:
        """Load in a background thread; `on_ready(predictor, instance)` runs on this event loop. A
        multi-model API's `prepare` (the first model scan) runs in that thread before __init__, which
        gets `python_client`, and `warm(instance)` (its models' first loads) after it."""
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._load, args=(loop, on_ready, prepare, python_client, warm),
                         name="predictor-init", daemon=True).start()

    def _load(self, loop: asyncio.AbstractEventLoop, on_ready: Callable[[PredictorClass, Any], None],
              prepare: Callable[[], None] | None, python_client: Any,
              warm: Callable[[Any], None] | None = None) -> None:
        started = time.perf_counter()
        try:
            predictor = load_predictor_class(self.api, self.root)
            if prepare is not None:
                prepare()
            instance = predictor.instantiate(self.api.predictor.config, python_client)
            if warm is not None:
                warm(instance)
        except MlserveError as e:
            log.error("api %s: the predictor failed to load\n%s", self.api.name, e)
            self._fail(e)
            return
        except BaseException as e:  # a bug outside the user's code; still fatal for this API
            log.error("api %s: loading the predictor failed\n%s", self.api.name, user_traceback(e))
            self._fail(PredictorError(f"loading the predictor failed: {e!r}",
                                      hint="see the API's logs for the traceback"))
            return
        log.info("api %s: ready in %.1fs", self.api.name, time.perf_counter() - started)
        try:
            loop.call_soon_threadsafe(self._ready, predictor, instance, on_ready)
        except RuntimeError:
            pass  # the server stopped while the predictor was loading

    def _fail(self, error: MlserveError) -> None:
        self.failure = error
        if self.on_init_failure is not None:
            self.on_init_failure(error)

    def _ready(self, predictor: PredictorClass, instance: Any,
               on_ready: Callable[[PredictorClass, Any], None]) -> None:
        self.predictor, self.instance = predictor, instance
        on_ready(predictor, instance)
        self.ready = True

    def unready(self) -> Overloaded | None:
        """Why predictions cannot be answered yet; None once the predictor is ready."""
        if self.ready:
            return None
        if self.failure is not None:
            return Overloaded("the predictor failed to load", retry_after=FAILED_RETRY_AFTER,
                              hint="see the API's logs, fix the error and deploy again")
        return Overloaded("the predictor is still loading", retry_after=LOADING_RETRY_AFTER,
                          hint="wait until GET /readyz answers 200")

    def readiness(self) -> tuple[int, dict]:
        """/readyz's status and body: ready with this process's identity, or why not."""
        if self.ready:
            return 200, {"ready": True, **instance_identity()}
        body: dict = {"ready": False}
        if self.failure is not None:
            body["error"] = self.failure.message
        return 503, body
