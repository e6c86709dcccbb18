"""Plan what a deploy does to the cluster: pure, so every case is unit-tested without one.

Desired objects are compared with the live mlserve-managed ones by their config hash:
unchanged objects are left alone, changed ones updated, new ones created, and objects of
this project whose API left cortex.yaml deleted. Objects of other projects are never touched.
A Deployment whose pod template hash did not change (only replicas bounds or the update
strategy did) is updated in place: the live template is kept, so no pod restarts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

from mlserve.deploy.base import Action
from mlserve.deploy.manifests import CONFIG_HASH, NAME, PART_OF, TEMPLATE_HASH
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
        elif verbs == {"create"} or any(c.verb == "create" and c.kind == "Deployment" for c in cs):
            actions[api] = "created"
        elif verbs == {"unchanged"}:
            actions[api] = "unchanged"
        else:
            actions[api] = "updated"
    return actions


def _template_hash(deployment: dict | None) -> str | None:
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    return (template.get("metadata", {}).get("annotations") or {}).get(TEMPLATE_HASH)


def rolls_pods(change: Change) -> bool:
    """Whether applying this change starts new pods: a new Deployment or a new pod template."""
    if change.kind != "Deployment" or change.verb not in ("create", "update"):
        return False
    return change.verb == "create" or _template_hash(change.desired) != _template_hash(change.live)


def to_apply(change: Change) -> dict:
    """The object an update applies. A Deployment whose pod template is unchanged keeps the image
    its pods run (the tag may differ only because other project files changed), so the template
    stays exactly as it is and only the Deployment's other fields change."""
    assert change.desired is not None
    if change.kind != "Deployment" or rolls_pods(change):
        return change.desired
    body = copy.deepcopy(change.desired)
    running = {c["name"]: c.get("image") for c in change.live["spec"]["template"]["spec"]["containers"]}
    for container in body["spec"]["template"]["spec"]["containers"]:
        container["image"] = running.get(container["name"], container["image"])
    return body


def rollout_needed(changes: list[Change], *, force: bool = False) -> list[str]:
    """APIs whose pods are replaced (those wait for their rollout); with `force`, every updated one."""
    return [c.api for c in changes if c.kind == "Deployment" and (
        rolls_pods(c) or (force and c.verb == "update"))]
