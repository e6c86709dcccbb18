"""Pydantic models of cortex.yaml (Cortex predictor era) with Cortex's defaults.

Field-level rules live here; checks that need the file system or several APIs live in
`checks.py`. Unknown keys are rejected (`extra="forbid"`); `loader.py` turns the
pydantic errors into `file:line: api 'x': field.path: message` lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlserve.contract.kind import Kind
from mlserve.errors import NotDeployed
from mlserve.spec.fields import Duration, FieldRule, _Strict, check_name, parse_duration
from mlserve.spec.multi_model import MultiModelReloading

_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_MEM = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_PERCENT_OR_INT = re.compile(r"^(\d+%|\d+)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ServerSideBatching(_Strict):
    max_batch_size: int = Field(ge=1, le=4096)
    batch_interval: Duration

    @field_validator("batch_interval")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not 0 < v <= 60:
            raise ValueError(f"must be between 0 and 60 seconds, got {v}")
        return v


class Predictor(_Strict):
    type: Literal["python"] = "python"
    path: str
    # Optional: the class to use when the file defines several candidates.
    class_name: str | None = None
    config: dict = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    python_path: str | None = None
    server_side_batching: ServerSideBatching | None = None
    processes_per_replica: int = Field(default=1, ge=1, le=100)
    threads_per_process: int = Field(default=1, ge=1, le=1000)
    # Seconds a single predict call may take before the caller gets 504.
    request_timeout: float = Field(default=60.0, gt=0, le=3600)
    # Requests above this many bytes get 413.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    # A request that would wait longer than this for a slot (queued work x recent service time
    # per slot) gets 503 with Retry-After; "1s", "500ms" or a number of seconds.
    max_queue_wait: Duration = 2.0
    # An optional hard cap on the number of requests waiting for a slot (503 beyond it).
    max_queue_length: int | None = Field(default=None, ge=0)
    # Many models behind this API (spec/multi_model.py): load_model() and python_client.get_model().
    multi_model_reloading: MultiModelReloading | None = None

    @field_validator("max_queue_wait")
    @classmethod
    def _wait_range(cls, v: float) -> float:
        if not 0 <= v <= 3600:
            raise ValueError(f"must be between 0 and 3600 seconds, got {v}")
        return v

    @model_validator(mode="after")
    def _one_cache_per_process(self) -> Predictor:
        models = self.multi_model_reloading
        if models is not None and models.caching and self.processes_per_replica > 1:
            raise FieldRule("processes_per_replica", f"({self.processes_per_replica}) must be 1 when "
                            "multi_model_reloading.cache_size is set (Cortex's rule: the cache is per process)")
        return self

    @field_validator("path")
    @classmethod
    def _py_file(cls, v: str) -> str:
        if not v.endswith(".py"):
            raise ValueError(f"'{v}' must be a .py file holding the Predictor class")
        return v

    @field_validator("env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not _ENV_NAME.match(key):
                raise ValueError(f"'{key}' is not a valid environment variable name")
        return v


class Compute(_Strict):
    cpu: str | None = None
    mem: str | None = None
    gpu: int = Field(default=0, ge=0)

    @field_validator("cpu", "mem", mode="before")
    @classmethod
    def _quantity(cls, v: object, info) -> object:
        if v is None:
            return v
        pattern, kind, examples = {
            "cpu": (_CPU, "CPU", "1, 0.5 or 500m"),
            "mem": (_MEM, "memory", "512Mi or 2Gi"),
        }[info.field_name]
        if not pattern.match(str(v)):
            raise ValueError(f"'{v}' is not a {kind} quantity (use e.g. {examples})")
        return str(v)


class Autoscaling(_Strict):
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=100, ge=1)
    init_replicas: int | None = Field(default=None, ge=0)
    # Defaults to processes_per_replica * threads_per_process (filled in by APISpec).
    target_replica_concurrency: float | None = Field(default=None, gt=0)
    max_replica_concurrency: int = Field(default=1024, ge=1)
    window: str = "60s"
    downscale_stabilization_period: str = "5m"
    upscale_stabilization_period: str = "1m"
    max_downscale_factor: float = Field(default=0.75, gt=0, lt=1)
    max_upscale_factor: float = Field(default=1.5, gt=1)
    downscale_tolerance: float = Field(default=0.05, ge=0, lt=1)
    upscale_tolerance: float = Field(default=0.05, ge=0)

    @field_validator("window", "downscale_stabilization_period", "upscale_stabilization_period")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @model_validator(mode="after")
    def _ranges(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise FieldRule("min_replicas", f"({self.min_replicas}) must be <= max_replicas ({self.max_replicas})")
        if self.init_replicas is None:
            self.init_replicas = self.min_replicas
        elif not self.min_replicas <= self.init_replicas <= self.max_replicas:
            raise FieldRule("init_replicas", f"({self.init_replicas}) must be between min_replicas "
                                             f"({self.min_replicas}) and max_replicas ({self.max_replicas})")
        return self


class UpdateStrategy(_Strict):
    max_surge: str = "25%"
    max_unavailable: str = "25%"

    @field_validator("max_surge", "max_unavailable", mode="before")
    @classmethod
    def _percent_or_int(cls, v: object) -> object:
        text = str(v)
        if not _PERCENT_OR_INT.match(text):
            raise ValueError(f"'{v}' must be a count (e.g. 1) or a percentage (e.g. 25%)")
        return text

    @model_validator(mode="after")
    def _not_both_zero(self) -> UpdateStrategy:
        if self.max_surge in ("0", "0%") and self.max_unavailable in ("0", "0%"):
            raise FieldRule("max_surge", "and max_unavailable cannot both be 0")
        return self


class Networking(_Strict):
    endpoint: str | None = None
    # Local backend only: pin the API to this 127.0.0.1 port.
    local_port: int | None = Field(default=None, ge=1024, le=65535)
    # A folder of static files (relative to cortex.yaml) served with GET under the endpoint.
    static: str | None = None
    # The environment variable (read at deploy) holding the API key that requests must send.
    api_key_env: str | None = None
    # With an API key: does /metrics require it too (default: open, for Prometheus)?
    metrics_require_api_key: bool = False

    @field_validator("endpoint")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.match(r"^/[A-Za-z0-9_\-./]*$", v) or v in ("/healthz", "/readyz", "/metrics", "/docs"):
            raise ValueError(f"'{v}' must be a URL path like /my-api (and not a reserved path)")
        return v.rstrip("/") or "/"

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(f"'{v}' is not an environment variable name (the key itself never goes in cortex.yaml)")
        return v


class _Endpointed(_Strict):
    """An entry clients call at `networking.endpoint`, /<name> unless set: APIs and traffic
    splitters. Subclasses declare `name` and `networking` themselves (their field order is theirs)."""

    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @model_validator(mode="after")
    def _default_endpoint(self):
        if self.networking.endpoint is None:
            self.networking.endpoint = f"/{self.name}"
        return self


class _Served(_Endpointed):
    """An entry whose process runs user code from `predictor` (APIs, and job APIs: spec/batchapi.py)."""

    code_field: ClassVar[str] = "predictor"  # the field naming the code (a TaskAPI's is `definition`)

    if TYPE_CHECKING:  # every subclass declares these (pydantic never sees this block)
        name: str
        networking: Networking

        @property
        def predictor(self) -> Any: ...  # a Predictor, or a TaskAPI's definition

    @property
    def endpoint(self) -> str:
        return self.networking.endpoint or f"/{self.name}"

    def predictor_file(self, root: Path) -> Path:
        return (root / self.predictor.path).resolve()

    def static_folder(self, root: Path) -> Path | None:
        static = self.networking.static
        return (root / static).resolve() if static else None


class APISpec(_Served):
    # Whether something other than a replica notices work and scales the API up from zero. A
    # RealtimeAPI has no activator: at zero replicas it would refuse every request, forever.
    wakes_from_zero: ClassVar[bool] = False

    name: str
    kind: Literal[Kind.REALTIME_API] = Kind.REALTIME_API
    predictor: Predictor
    compute: Compute = Field(default_factory=Compute)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    update_strategy: UpdateStrategy = Field(default_factory=UpdateStrategy)
    networking: Networking = Field(default_factory=Networking)

    @model_validator(mode="after")
    def _defaults(self) -> APISpec:
        if self.autoscaling.target_replica_concurrency is None:
            p = self.predictor
            self.autoscaling.target_replica_concurrency = float(
                p.processes_per_replica * p.threads_per_process
            )
        if self.autoscaling.min_replicas == 0 and not self.wakes_from_zero:
            raise FieldRule("autoscaling.min_replicas", f"(0) must be at least 1 for a {self.kind}: nothing starts "
                            "a replica when a request comes, so at zero replicas it would refuse every request",
                            hint="use min_replicas: 1, or kind: AsyncAPI to scale to zero")
        return self



class Project(BaseModel):
    """A loaded cortex.yaml: its path, the folder predictor paths are relative to, the APIs."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    file: Path
    root: Path
    apis: list[APISpec]
    splitters: list = Field(default_factory=list)  # TrafficSplitterSpec (mlserve/spec/splitter.py)
    async_apis: list = Field(default_factory=list)  # AsyncAPISpec (mlserve/spec/asyncapi.py)
    batch_apis: list = Field(default_factory=list)  # BatchAPISpec (mlserve/spec/batchapi.py)
    task_apis: list = Field(default_factory=list)  # TaskAPISpec (mlserve/spec/batchapi.py)

    def api(self, name: str) -> APISpec:
        """The API (RealtimeAPI or AsyncAPI: both serve a predictor) named `name`."""
        for api in self.apis + self.async_apis:
            if api.name == name:
                return api
        names = ", ".join(a.name for a in self.apis + self.async_apis) or "none"
        raise NotDeployed(f"{self.file}: no api named '{name}' (apis: {names})")

    def served(self) -> list:
        """Every entry whose process runs the project's code: APIs of every kind and job APIs
        (what images, compute checks and API keys are about; splitters run none)."""
        return [*self.apis, *self.async_apis, *self.batch_apis, *self.task_apis]

    def entry(self, name: str):
        """The entry of any kind with a predictor (an API or a job API) named `name`."""
        for entry in [*self.batch_apis, *self.task_apis]:
            if entry.name == name:
                return entry
        return self.api(name)
