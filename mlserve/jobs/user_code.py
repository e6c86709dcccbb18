"""Loading a job API's user code: a BatchAPI's predictor and a TaskAPI's Task class.

The runtime's loader does the importing and the signature checks (parameters injected by name),
so a typo in `predict(self, payload, batch_id)` fails when a worker starts, not per batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from mlserve.errors import PredictorInitError, PredictorLoadError
from mlserve.runtime.loader import _check_method, _find_class, import_user_file, user_traceback

BATCH_INIT_PARAMS = ("config", "job_spec")
BATCH_PREDICT_PARAMS = ("payload", "batch_id")
TASK_CALL_PARAMS = ("config",)


def _call_user(fn: Callable, kwargs: dict, where: str, what: str) -> Any:
    try:
        return fn(**kwargs)
    except Exception as e:
        raise PredictorInitError(f"{where}: {what} raised {type(e).__name__}\n{user_traceback(e)}",
                                 hint=f"fix {what} (see the traceback above) and deploy again") from e


class BatchPredictor:
    """A BatchAPI predictor: built once per worker, then `predict(items, batch_id)` per batch."""

    def __init__(self, entry: Any, root: Path) -> None:
        module, shown = import_user_file(entry, root)
        self.cls: Any = cast(Any, _find_class(module, shown, entry.predictor.class_name))  # the user's class
        self.where = f"{shown}: class {self.cls.__name__}"
        self.init_params = _check_method(self.cls.__init__, BATCH_INIT_PARAMS, self.where, "__init__()") \
            if self.cls.__init__ is not object.__init__ else ()
        self.predict_params = _check_method(self.cls.predict, BATCH_PREDICT_PARAMS, self.where, "predict()")
        done = getattr(self.cls, "on_job_complete", None)
        if done is not None:
            _check_method(done, (), self.where, "on_job_complete()")
        self.has_on_job_complete = done is not None
        self.instance: Any = None

    def start(self, config: dict, job_spec: dict) -> None:
        values = {"config": config, "job_spec": job_spec}
        self.instance = _call_user(self.cls, {p: values[p] for p in self.init_params}, self.where, "__init__")

    def predict(self, payload: Any, batch_id: str) -> Any:
        values = {"payload": payload, "batch_id": batch_id}
        return self.instance.predict(**{p: values[p] for p in self.predict_params})

    def on_job_complete(self) -> None:
        self.instance.on_job_complete()


def load_task(entry: Any, root: Path) -> Callable[[dict], Any]:
    """A TaskAPI's `Task` (or `definition.class_name`): returns `run(config)`."""
    module, shown = import_user_file(entry, root)
    name = entry.predictor.class_name
    defined = [c for c in vars(module).values() if inspect.isclass(c) and c.__module__ == module.__name__]
    wanted = name or "Task"
    cls = next((c for c in defined if c.__name__ == wanted), None)
    if cls is None:
        names = ", ".join(sorted(c.__name__ for c in defined)) or "none"
        raise PredictorLoadError(f"{shown}: no class named '{wanted}' (classes defined there: {names})",
                                 hint="define `class Task:` with `def __call__(self, config)`, or set "
                                      "definition.class_name")
    where = f"{shown}: class {cls.__name__}"
    if "__call__" not in vars(cls) and not any("__call__" in vars(b) for b in cls.__mro__[1:-1]):
        raise PredictorLoadError(f"{where}: has no __call__(self, config) method",
                                 hint="a TaskAPI runs `Task()(config=...)`: define __call__")
    params = _check_method(cls.__call__, TASK_CALL_PARAMS, where, "__call__()")

    def run(config: dict) -> Any:
        task = _call_user(cls, {}, where, "__init__")
        return task(**({"config": config} if "config" in params else {}))
    return run
