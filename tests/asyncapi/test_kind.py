"""The AsyncAPI kind object: found by the backends through `KINDS`, its local command and store, and its
Kubernetes objects refused with a DeployError until this build has them."""

from __future__ import annotations

from mlserve import kinds
from mlserve.contract.kind import Kind
from mlserve.deploy.environments import Environment
from mlserve.deploy.local.state import APIRecord
from mlserve.kinds.asyncapi import AsyncAPI
from mlserve.spec import load_project
from tests.asyncapi.conftest import write_project

KUBE = Environment(name="prod", provider="kubernetes", registry="registry.example.com/team", namespace="serving")


def test_the_backends_find_the_kind_by_its_record_and_its_entries(tmp_path):
    spec = write_project(tmp_path, {"name": "jobs", "class_name": "Jobs"})
    project = load_project(spec)
    assert [(type(k), e.name) for k, e in kinds.entries(project)] == [(AsyncAPI, "jobs")]
    assert isinstance(kinds.of_spec({"name": "jobs", "kind": "AsyncAPI"}), AsyncAPI)
    rec = APIRecord(name="jobs", port=9001, endpoint="/jobs", spec_file=str(spec), spec_hash="x",
                    snapshot=str(tmp_path / ".mlserve" / "snapshots" / "jobs" / "h"), spec={"kind": Kind.ASYNC_API})
    command = kinds.local_command(rec)
    assert command[1:3] == ["-m", "mlserve.asyncapi"] and command[command.index("--port") + 1] == "9001"
    assert command[command.index("--store") + 1] == f"sqlite://{tmp_path / '.mlserve' / 'async' / 'jobs.db'}"
