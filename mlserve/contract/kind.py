"""The `kind:` of a cortex.yaml entry."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    REALTIME_API = "RealtimeAPI"
    TRAFFIC_SPLITTER = "TrafficSplitter"
    BATCH_API = "BatchAPI"
    TASK_API = "TaskAPI"


# Cortex's other kinds: a cortex.yaml naming one is told it is not supported yet, by name.
PLANNED = ("AsyncAPI",)
