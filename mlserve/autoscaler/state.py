"""What the autoscaler keeps in the cluster, one ConfigMap per namespace, one key per API.

Each key holds the algorithm's history (so a restarted controller continues where it stopped),
the last tick's decision and the last scaling events (shown by `mlserve get API`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mlserve.autoscaler.algorithm import Decision, History

# The name of the controller's Deployment, ServiceAccount, Role, RoleBinding and state ConfigMap.
CONTROLLER = "mlserve-autoscaler"
EVENTS_KEPT = 10


@dataclass
class APIState:
    history: History = field(default_factory=History)
    last: dict | None = None  # the last tick's Decision, as JSON
    events: list[dict] = field(default_factory=list)  # the last decisions that changed the count

    def record(self, history: History, decision: Decision) -> APIState:
        events = self.events
        if decision.request != decision.current:
            events = (events + [decision.to_json()])[-EVENTS_KEPT:]
        return APIState(history, decision.to_json(), events)

    def to_text(self) -> str:
        return json.dumps({"history": self.history.to_json(), "last": self.last, "events": self.events},
                          separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str | None) -> APIState:
        try:
            data = json.loads(text or "{}")
            return cls(History.from_json(data.get("history")), data.get("last"), list(data.get("events") or []))
        except (ValueError, TypeError, AttributeError):
            return cls()  # unreadable (edited by hand?): start over, as after a fresh start


def key(api: str) -> str:
    return f"{api}.json"


def load(data: dict[str, str] | None) -> dict[str, APIState]:
    return {k.removesuffix(".json"): APIState.from_text(v) for k, v in (data or {}).items() if k.endswith(".json")}
