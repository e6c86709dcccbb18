"""`kind: BatchAPI` and `kind: TaskAPI`: APIs that take jobs (Cortex's shape).

    - name: translate-folder
      kind: BatchAPI
      predictor: {path: batch.py, config: {...}}     # __init__(self, config, job_spec), predict(self, payload, batch_id)
      compute: {cpu: 1}

    - name: finetune
      kind: TaskAPI
      definition: {path: task.py, config: {...}}     # class Task: __call__(self, config)

Submitting a job (`POST <endpoint>`) is described in mlserve/jobs/submission.py. The code field is
`predictor` for a BatchAPI and `definition` for a TaskAPI; `code_field` names it, and both kinds
expose it as `.predictor`, so hashing and snapshots treat them like any API's predictor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from mlserve.contract.kind import Kind
from mlserve.errors import SpecError, SpecErrors
from mlserve.spec.fields import _Strict
from mlserve.spec.models import Compute, Networking, Predictor, Project, _Served


class _JobAPI(_Served):
    """An entry that takes jobs (mlserve/jobs/) rather than requests."""


class BatchAPISpec(_JobAPI):
    name: str
    kind: Literal[Kind.BATCH_API]
    predictor: Predictor
    compute: Compute = Field(default_factory=Compute)
    networking: Networking = Field(default_factory=Networking)


class TaskDefinition(_Strict):
    path: str
    class_name: str | None = None  # default: the class named Task, or the one callable class
    config: dict = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    python_path: str | None = None

    @field_validator("path")
    @classmethod
    def _py_file(cls, v: str) -> str:
        if not v.endswith(".py"):
            raise ValueError(f"'{v}' must be a .py file holding the Task class")
        return v


class TaskAPISpec(_JobAPI):
    code_field: ClassVar[str] = "definition"
    name: str
    kind: Literal[Kind.TASK_API]
    definition: TaskDefinition
    compute: Compute = Field(default_factory=Compute)
    networking: Networking = Field(default_factory=Networking)

    @property
    def predictor(self) -> TaskDefinition:  # what hashing and snapshots read (see the module docstring)
        return self.definition


def job_apis(project: Project) -> list[_JobAPI]:
    return [*project.batch_apis, *project.task_apis]


def check_jobs(project: Project, file: str, line_of: Callable[..., int | None]) -> None:
    """Job APIs' names and endpoints clash with no other entry; their code files exist in the project."""
    errors: list[SpecError] = []
    others = [*project.apis, *project.async_apis, *project.splitters]
    names = {e.name for e in others}
    endpoints = {e.endpoint: e.name for e in others}
    root = project.root.resolve()
    for i, job in enumerate(job_apis(project)):
        def error(message: str, field: tuple, hint: str, i: int = i, job: _JobAPI = job) -> None:
            errors.append(SpecError(message, file=file, line=line_of(i, *field), api=job.name,
                                    field=".".join(field), hint=hint))

        if job.name in names:
            error(f"'{job.name}' is already the name of another entry", ("name",), "give every entry a unique name")
        names.add(job.name)
        if job.endpoint in endpoints:
            error(f"'{job.endpoint}' is already used by '{endpoints[job.endpoint]}'", ("networking", "endpoint"),
                  "give every api its own endpoint")
        endpoints.setdefault(job.endpoint, job.name)
        path = job.predictor_file(root)
        if not path.is_relative_to(root):
            error(f"'{job.predictor.path}' is outside the project folder {root}", (job.code_field, "path"),
                  "move the file into the folder holding cortex.yaml: only project files are deployed")
        elif not path.is_file():
            error(f"'{job.predictor.path}' does not exist (looked for {path})", (job.code_field, "path"),
                  "paths are relative to the folder holding cortex.yaml")
    if errors:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)
