"""What a work queue and a result store offer, whatever holds them (sqlite.py, sqs.py, s3.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Lease:
    """One delivery of an item to a worker. `token` proves the worker still holds it."""

    item_id: str
    body: bytes
    attempt: int  # 1 on the first delivery; more after a worker died or released it
    token: str


@dataclass(frozen=True)
class DeadItem:
    item_id: str
    body: bytes
    attempts: int
    error: str
    at: float  # unix time it was given up on


@dataclass(frozen=True)
class QueueCounts:
    waiting: int  # visible now, or due again (a lease ran out)
    in_flight: int  # leased and still held
    dead: int
    oldest_age_s: float | None  # age of the oldest item not yet acknowledged; None when empty


class WorkQueue(Protocol):
    def put(self, item_id: str, body: bytes) -> None:
        """Enqueue durably: once this returns the item survives a crash. A repeated id is not
        enqueued twice (a client may retry a submit)."""

    def lease(self, visibility_s: float, wait_s: float = 0.0) -> Lease | None:
        """The oldest visible item, hidden from others for `visibility_s`; None if none came
        within `wait_s`."""

    def renew(self, lease: Lease, visibility_s: float) -> None:
        """Keep holding a running item for `visibility_s` more. Raises LeaseLost if it ran out."""

    def ack(self, lease: Lease) -> None:
        """The item is done: it leaves the queue. Raises LeaseLost if another worker holds it."""

    def release(self, lease: Lease, delay_s: float = 0.0) -> None:
        """Give the item back, visible again after `delay_s` (its attempt still counts)."""

    def dead_letter(self, lease: Lease, error: str) -> None:
        """Give up on the item: it moves to the dead-letter store with `error`."""

    def dead(self, limit: int = 20) -> list[DeadItem]:
        """The most recent dead letters, newest first."""

    def counts(self) -> QueueCounts: ...

    def drop(self) -> None:
        """Delete the queue and everything in it."""


class ResultStore(Protocol):
    """Records keyed by item id (status, result, error, times), overwritten as an item advances."""

    def put(self, item_id: str, record: dict) -> None: ...

    def get(self, item_id: str) -> dict | None: ...

    def expire(self, older_than_s: float) -> int:
        """Delete records last written more than `older_than_s` ago; how many went."""

    def drop(self) -> None: ...
