"""Load a user's Predictor class from a file path and check its shape before serving.

The module is imported under a unique name (two APIs may both have `predictor.py`), the class
is named in the spec or found unambiguously, and `__init__` / `predict` / `stream` are checked
against the names the runtime can inject, so a typo fails at load time rather than per request.
A user's own import error keeps the user's frames and drops ours.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mlserve.errors import MlserveError, PredictorInitError, PredictorLoadError
from mlserve.extras import install_hint, missing_extra
from mlserve.runtime import typed
from mlserve.spec import APISpec

PREDICT_PARAMS = ("payload", "query_params", "headers")
INIT_PARAMS = ("config", "python_client")  # python_client: multi-model APIs only


def user_traceback(exc: BaseException) -> str:
    """The traceback of `exc` without the runtime's and importlib's frames (user code only)."""
    te = traceback.TracebackException.from_exception(exc)
    here = str(Path(__file__).resolve().parent)
    for part in _chain(te):
        part.stack = traceback.StackSummary.from_list(
            [f for f in part.stack if not f.filename.startswith(("<frozen ", here))]
        )
    return "".join(te.format())


def _chain(te: traceback.TracebackException):
    seen = set()
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        yield te
        te = te.__cause__ or (None if te.__suppress_context__ else te.__context__)


@dataclass(frozen=True)
class Method:
    """A predictor method and the runtime-injectable parameters it declares."""

    name: str
    params: tuple[str, ...]
    is_async: bool  # `async def` without yield: awaited on the event loop
    is_generator: bool  # has `yield` (sync or async): calling it runs no user code yet
    payload_model: Any = None  # a pydantic model the body is validated into (mlserve/runtime/typed.py)
    response_model: Any = None  # the pydantic model predict() declares it returns

    def kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        return {p: values[p] for p in self.params}


@dataclass(frozen=True)
class PredictorClass:
    """A checked predictor class, ready to instantiate."""

    cls: type
    where: str  # "predictors/x.py: class X", the prefix of every error about it
    init_takes_config: bool
    predict: Method
    stream: Method | None
    openai: bool = False  # answers the OpenAI-compatible routes (mlserve/completions.py)
    init_takes_client: bool = False  # a multi-model API's python_client (runtime/multimodel/)

    def instantiate(self, config: dict, python_client: Any = None) -> Any:
        """Run the user's __init__; its exception becomes PredictorInitError with the user's traceback."""
        kwargs: dict[str, Any] = {"config": config} if self.init_takes_config else {}
        if self.init_takes_client:
            kwargs["python_client"] = python_client
        try:
            return self.cls(**kwargs)
        except Exception as e:
            extra = missing_extra(e) if isinstance(e, ModuleNotFoundError) else None
            own = e.hint if isinstance(e, MlserveError) else None  # e.g. a damaged model: what to run
            raise PredictorInitError(
                f"{self.where}: __init__ raised {type(e).__name__}\n{user_traceback(e)}",
                hint=(extra.hint if extra else own)
                or "fix the predictor's __init__ (see the traceback above) and deploy again",
            ) from e


def _check_method(fn: Callable, allowed: tuple[str, ...], where: str, what: str) -> tuple[str, ...]:
    """Names of the declared parameters (all of `allowed` for **kwargs); precise error otherwise."""
    try:
        params = list(inspect.signature(fn).parameters.values())[1:]  # drop self
    except (TypeError, ValueError) as e:
        raise PredictorLoadError(f"{where}: cannot read the signature of {what}: {e}") from None
    names: list[str] = []
    allowed_text = ", ".join(allowed)
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            return allowed
        if p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.POSITIONAL_ONLY:
            raise PredictorLoadError(
                f"{where}: {what} parameter '{p.name}' is positional-only; the runtime passes arguments by name",
                hint=f"remove the '/' from the signature; allowed parameters: {allowed_text}",
            )
        if p.name not in allowed:
            raise PredictorLoadError(
                f"{where}: {what} takes unknown parameter '{p.name}'; allowed: {allowed_text}",
                hint="rename or remove it: the runtime injects parameters by name",
            )
        names.append(p.name)
    return tuple(names)


def _method(cls: type, name: str, where: str) -> Method | None:
    fn = getattr(cls, name, None)
    if fn is None:
        return None
    if not callable(fn):
        raise PredictorLoadError(f"{where}: '{name}' must be a method")
    payload_model, response_model = typed.models(fn)
    return Method(name, _check_method(fn, PREDICT_PARAMS, where, f"{name}()"),
                  is_async=inspect.iscoroutinefunction(fn),
                  is_generator=inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn),
                  payload_model=payload_model, response_model=response_model)


def _import(path: Path, shown: str) -> ModuleType:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"mlserve_predictor_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PredictorLoadError(f"{shown}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses/pickle look classes up by module name
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        sys.modules.pop(module_name, None)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        missing = isinstance(e, ModuleNotFoundError)
        extra = missing_extra(e) if missing else None
        fix = "fix the error above (a missing package belongs in your image or environment)"
        raise PredictorLoadError(
            f"{shown}: importing it raised {type(e).__name__}\n{user_traceback(e)}",
            hint=extra.hint if extra else install_hint((e.name or "").split(".")[0], fix) if missing else fix,
        ) from e
    return module


def _find_class(module: ModuleType, shown: str, class_name: str | None) -> type:
    defined = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and obj.__module__ == module.__name__
    ]
    if class_name is not None:
        for obj in defined:
            if obj.__name__ == class_name:
                return obj
        names = ", ".join(sorted(c.__name__ for c in defined)) or "none"
        raise PredictorLoadError(
            f"{shown}: no class named '{class_name}' (classes defined there: {names})",
            hint="fix predictor.class_name in cortex.yaml",
        )
    candidates = [c for c in defined if callable(getattr(c, "predict", None))]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise PredictorLoadError(
            f"{shown}: no class with a predict() method",
            hint="define a class with `def predict(self, payload)` in this file",
        )
    names = ", ".join(sorted(c.__name__ for c in candidates))
    raise PredictorLoadError(
        f"{shown}: several classes have a predict() method: {names}",
        hint="name the one to serve with predictor.class_name in cortex.yaml",
    )


def import_user_file(entry: APISpec, root: Path) -> tuple[ModuleType, str]:
    """Import an entry's `predictor.path` (relative to `root`): (module, the path as written)."""
    root = Path(root).resolve()
    path = entry.predictor_file(root)
    shown = entry.predictor.path
    if not path.is_file():
        raise PredictorLoadError(f"{shown}: file not found (looked for {path})",
                                 hint="predictor paths are relative to the folder holding cortex.yaml")
    # The project root and python_path are importable, as in Cortex.
    extra = [root] + ([(root / entry.predictor.python_path).resolve()] if entry.predictor.python_path else [])
    for folder in reversed(extra):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    return _import(path, shown), shown


def load_predictor_class(api: APISpec, root: Path) -> PredictorClass:
    """Import `api.predictor.path` (relative to `root`) and check the class it serves."""
    module, shown = import_user_file(api, root)
    cls = _find_class(module, shown, api.predictor.class_name)
    where = f"{shown}: class {cls.__name__}"
    init_params = _check_method(cls.__init__, INIT_PARAMS, where, "__init__()") \
        if cls.__init__ is not object.__init__ else ()
    predict = _method(cls, "predict", where)
    if predict is None:
        raise PredictorLoadError(f"{where}: has no predict() method")
    fn = cls.predict
    if api.predictor.server_side_batching is not None and (
            inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)):
        raise PredictorLoadError(f"{where}: predict() is a generator, which server_side_batching cannot split",
                                 hint="turn off server_side_batching or return a list")
    _check_multi_model(cls, api, where, init_params)
    return PredictorClass(
        cls=cls, where=where, init_takes_config="config" in init_params,
        predict=predict, stream=_method(cls, "stream", where), openai=_answers_openai(cls, where),
        init_takes_client="python_client" in init_params and api.predictor.multi_model_reloading is not None,
    )


def _required(fn: Callable, name: str) -> bool:
    return inspect.signature(fn).parameters[name].default is inspect.Parameter.empty


def _check_multi_model(cls: type, api: APISpec, where: str, init_params: tuple[str, ...]) -> None:
    """Cortex's multi-model contract: load_model(self, model_path) and python_client go together with
    predictor.multi_model_reloading."""
    if api.predictor.multi_model_reloading is None:
        # `python_client=None` serves both ways (one model from config, or many): it is left out here.
        if "python_client" in init_params and _required(cls.__init__, "python_client"):
            raise PredictorLoadError(f"{where}: __init__ takes python_client, which only multi-model APIs get",
                                     hint="set predictor.multi_model_reloading in cortex.yaml, drop the parameter, "
                                          "or give it a default (python_client=None) to serve one model without it")
        return
    load = getattr(cls, "load_model", None)
    if not callable(load):
        raise PredictorLoadError(f"{where}: multi_model_reloading needs a load_model(self, model_path) method",
                                 hint="define it: it gets a model version's folder and returns the loaded model")
    if inspect.iscoroutinefunction(load) or inspect.isgeneratorfunction(load):
        raise PredictorLoadError(f"{where}: load_model must be a plain method (not async, no yield)",
                                 hint="the runtime calls it in a thread, off the event loop")
    _check_method(load, ("model_path",), where, "load_model()")
    if "python_client" not in init_params:
        raise PredictorLoadError(f"{where}: __init__ must take python_client to reach its models",
                                 hint="def __init__(self, config, python_client): keep it and call "
                                      "python_client.get_model(name, version) in predict")


def _answers_openai(cls: type, where: str) -> bool:
    has = [callable(getattr(cls, name, None)) for name in ("openai_payload", "openai_result")]
    if any(has) and not all(has):
        raise PredictorLoadError(f"{where}: defines one of openai_payload() and openai_result() but not both",
                                 hint="define both (see mlserve/completions.py) or neither")
    return all(has)
