"""The `kind:` of a cortex.yaml entry."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    REALTIME_API = "RealtimeAPI"
    TRAFFIC_SPLITTER = "TrafficSplitter"
    ASYNC_API = "AsyncAPI"
    BATCH_API = "BatchAPI"
    TASK_API = "TaskAPI"
