"""What `mlserve get` says an API (or splitter) is doing, on every backend."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    LIVE = "live"
    UPDATING = "updating"  # starting or rolling out a new version
    RESTARTING = "restarting"  # it exited; a restart is coming (not yet a crash loop)
    PENDING = "pending"  # waiting for a node that can run it
    ERROR = "error"
    CRASH_LOOP = "error (crash loop)"
    STOPPED = "stopped"
    DEGRADED = "degraded: supervisor lost"  # local: still answers, but nothing restarts it

    @property
    def serving(self) -> bool:
        """Whether it answers requests (its metrics can be read)."""
        return self in (Status.LIVE, Status.DEGRADED)
