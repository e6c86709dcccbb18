"""Plan what a deploy does to the cluster: pure, so every case is unit-tested without one.

Desired objects are compared with the live mlserve-managed ones by their config hash:
unchanged objects are left alone, changed ones updated, new ones created, and objects of
this project whose API left cortex.yaml deleted. Objects of other projects are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlserve.deploy.base import Action
from mlserve.deploy.manifests import CONFIG_HASH, NAME, PART_OF
from mlserve.errors import DeployError

Verb = Literal["create", "update", "unchanged", "delete"]


@dataclass(frozen=True)
class Change:
    verb: Verb
    api: str
    kind: str
    name: str
    desired: dict | None = None
    live: dict | None = None


def _label(obj: dict, key: str) -> str | None:
    return (obj.get("metadata", {}).get("labels") or {}).get(key)


def _annotation(obj: dict, key: str) -> str | None:
    return (obj.get("metadata", {}).get("annotations") or {}).get(key)


def plan(desired: list[dict], live: list[dict], project: str, *, namespace: str = "default",
         force: bool = False) -> list[Change]:
    """Changes that turn `live` (managed objects in the namespace) into `desired` for `project`."""
    remaining = {(o["kind"], o["metadata"]["name"]): o for o in live}
    changes: list[Change] = []
    for obj in desired:
        key = (obj["kind"], obj["metadata"]["name"])
        api = _label(obj, NAME) or key[1]
        current = remaining.pop(key, None)
        if current is None:
            changes.append(Change("create", api, key[0], key[1], desired=obj))
            continue
        owner = _label(current, PART_OF)
        if owner != project:
            raise DeployError(
                f"api '{api}' is already deployed in namespace '{namespace}' from project '{owner}'",
                hint=f"rename the api in this project, or delete it there first (mlserve delete {api})",
            )
        same = not force and _annotation(current, CONFIG_HASH) == _annotation(obj, CONFIG_HASH)
        changes.append(Change("unchanged" if same else "update", api, key[0], key[1], desired=obj, live=current))
    for (kind, name), current in remaining.items():
        if _label(current, PART_OF) == project:
            changes.append(Change("delete", _label(current, NAME) or name, kind, name, live=current))
    return changes


def api_actions(changes: list[Change]) -> dict[str, Action]:
    """What happened to each API: created / updated / unchanged / deleted."""
    by_api: dict[str, list[Change]] = {}
    for c in changes:
        by_api.setdefault(c.api, []).append(c)
    actions: dict[str, Action] = {}
    for api, cs in by_api.items():
        verbs = {c.verb for c in cs}
        if verbs == {"delete"}:
            actions[api] = "deleted"
        elif any(c.verb == "create" and c.kind == "Deployment" for c in cs):
            actions[api] = "created"
        elif verbs == {"unchanged"}:
            actions[api] = "unchanged"
        else:
            actions[api] = "updated"
    return actions


def rollout_needed(changes: list[Change]) -> list[str]:
    """APIs whose Deployment is created or updated (those wait for their pods)."""
    return [c.api for c in changes if c.kind == "Deployment" and c.verb in ("create", "update")]
