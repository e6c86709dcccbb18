"""The one error hierarchy of mlserve.

Library code raises these; only the CLI (exit codes) and the runtime (HTTP statuses)
decide what they mean to a user. Every message says what went wrong and where; `hint`
says what to do about it.
"""

from __future__ import annotations


class MlserveError(Exception):
    """Base of every error mlserve raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class SpecError(MlserveError):
    """cortex.yaml is invalid. `location` is 'file:line' when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        api: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file, self.line, self.api, self.field = file, line, api, field
        where = file or ""
        if file and line:
            where = f"{file}:{line}"
        parts = [p for p in (where, f"api '{api}'" if api else "") if p]
        prefix = ": ".join(parts)
        body = f"{field}: {message}" if field else message
        super().__init__(f"{prefix}: {body}" if prefix else body, hint=hint)


class SpecErrors(SpecError):
    """Several spec problems reported together (one line each)."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        MlserveError.__init__(self, "\n".join(str(e) for e in errors))


class PredictorLoadError(MlserveError):
    """The predictor file/class cannot be imported or has the wrong shape."""


class PredictorInitError(MlserveError):
    """The predictor's __init__ raised; the message carries the user's traceback."""


class RequestError(MlserveError):
    """A client sent something the API cannot accept."""

    http_status = 400


class UnsupportedParameter(RequestError):
    """A protocol request (OpenAI, Open Inference Protocol) asks for what this API does not do;
    `param` names the request field."""

    def __init__(self, message: str, *, param: str | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.param = param


class PayloadTooLarge(RequestError):
    http_status = 413


class PayloadInvalid(RequestError):
    """The body does not match the predictor's payload model (a typed predictor)."""

    http_status = 422


class RequestTimeout(RequestError):
    """The client took too long to send its request head or body."""

    http_status = 408


class UrlTooLong(RequestError):
    http_status = 414


class HeadTooLarge(RequestError):
    """The request line and headers together are over the runtime's limit."""

    http_status = 431


class Unauthorized(RequestError):
    """The API requires an API key and the request had none or a wrong one."""

    http_status = 401


class Overloaded(MlserveError):
    """Too many requests in flight or queued: the client should retry later."""

    http_status = 503

    def __init__(self, message: str, *, retry_after: int = 1, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class Superseded(MlserveError):
    """A newer request from the same session replaced this one."""

    http_status = 409


class PredictorError(MlserveError):
    """The predictor failed while handling a request (details are logged, not returned)."""

    http_status = 500


class PredictorTimeout(PredictorError):
    http_status = 504


class ModelNotFound(MlserveError):
    """A model reference in a predictor config cannot be resolved."""


class ModelDamaged(MlserveError):
    """A model's files are damaged beyond repair here (a cache entry that cannot be rebuilt), or
    the model loads but generates nothing: a failed load, instead of an API answering emptily."""


class DeployError(MlserveError):
    """A deployment could not be carried out or did not become ready."""


class SymlinkError(DeployError):
    """A symlink among the files deploy copies leaves the project, dangles or loops."""


class StateError(MlserveError):
    """The local state folder is unreadable or locked by another deploy."""


class EnvironmentConfigError(MlserveError):
    """An `mlserve env` environment is missing or misconfigured."""


class PredictionFailed(MlserveError):
    """`mlserve predict` got no answer, or an error status, from an API."""

    def __init__(self, message: str, *, hint: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code  # the API's HTTP status; None when it did not answer


class NotDeployed(MlserveError):
    """The named API is not deployed in this environment."""


class NotFound(RequestError):
    """The request names something this API does not have (e.g. a static file)."""

    http_status = 404


class MethodNotAllowed(RequestError):
    """The path exists but not for this HTTP method; `allow` lists the methods it takes."""

    http_status = 405

    def __init__(self, message: str, *, allow: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.allow = allow


class MissingExtra(MlserveError):
    """An optional feature needs packages of an extra that is not installed."""


class TrainingDataError(MlserveError):
    """`mlserve finetune` cannot train on the given text (missing, empty, binary, too small)."""


class FinetuneError(MlserveError):
    """A fine-tuning run cannot start or continue (output folder, checkpoint, settings)."""


class ModelNotServed(NotFound):
    """A multi-model API has no such model or version (python_client.get_model); the message lists what it has."""


class ModelLoadFailed(PredictorError):
    """A multi-model API's load_model raised for one model version; the other models keep serving."""


class QueueError(MlserveError):
    """A work queue or result store (mlserve/queues/) cannot be opened or answered wrongly."""


class LeaseLost(QueueError):
    """A worker renewed or acknowledged an item whose lease had expired: another worker may hold
    it now, so this worker's result must not be recorded as the only one (delivery is at least once)."""
