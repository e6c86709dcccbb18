"""The workload kinds, one object each (base.py says what one offers), in one table.

The backends loop over `KINDS` and name no kind: adding a kind is its module(s), a row here, and
its model in spec/ (spec/loader.py KINDS).
"""

from __future__ import annotations

from typing import Any

from mlserve.contract.kind import Kind
from mlserve.deploy.local.state import APIRecord
from mlserve.errors import DeployError
from mlserve.kinds.asyncapi import AsyncAPI
from mlserve.kinds.base import WorkloadKind
from mlserve.kinds.jobs import BatchAPI, TaskAPI
from mlserve.kinds.realtime import RealtimeAPI
from mlserve.kinds.splitter import TrafficSplitter
from mlserve.spec import Project

# In deploy order: a splitter's routing table names its APIs' ports, so APIs come first.
KINDS: tuple[WorkloadKind, ...] = (RealtimeAPI(), AsyncAPI(), TrafficSplitter(), BatchAPI(), TaskAPI())


def of_spec(spec: dict) -> WorkloadKind:
    """The kind of a deployed entry's spec as recorded (records from before `kind` was kept are APIs)."""
    name = spec.get("kind") or Kind.REALTIME_API
    for kind in KINDS:
        if kind.kind == name:
            return kind
    raise DeployError(f"'{spec.get('name')}' was deployed as a {name}, a kind this mlserve does not know",
                      hint="use the mlserve that deployed it, or `mlserve delete` it and deploy again")


def local_command(rec: APIRecord) -> list[str]:
    """The command line of a deployed entry's local process."""
    return of_spec(rec.spec).command(rec)


def entries(project: Project) -> list[tuple[WorkloadKind, Any]]:
    """Every entry of a project with its kind, in deploy order."""
    return [(kind, entry) for kind in KINDS for entry in kind.entries(project)]
