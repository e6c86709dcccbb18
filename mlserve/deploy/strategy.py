"""The rolling update of an API's Deployment, and what the host network allows of it.

On the host network every pod of an API binds the same port of its node, so a surge pod (one
more than the replicas) waits for a port its predecessor holds: with one node per replica the
rollout never progresses. There pods are replaced in place (max_surge 0, max_unavailable 1)
unless cortex.yaml says otherwise, and an explicit surge is refused.
"""

from __future__ import annotations

from mlserve.deploy.environments import Environment
from mlserve.spec import APISpec, Project
from mlserve.spec.loader import field_error

_ZERO = ("0", "0%")


def _int_or_percent(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _host_network_values(api: APISpec, project: Project) -> tuple[str, str]:
    """(max_surge, max_unavailable) on the host network; SpecError for an explicit surge."""
    strategy = api.update_strategy
    explicit = strategy.model_fields_set
    if "max_surge" in explicit and strategy.max_surge not in _ZERO:
        raise field_error(project, api.name, "update_strategy.max_surge",
                          f"{strategy.max_surge} cannot work on the host network: a surge pod needs the port "
                          "its predecessor holds on the node",
                          hint="set update_strategy: {max_surge: 0, max_unavailable: 1} in cortex.yaml "
                               "(pods are replaced one at a time), or deploy to an environment without host_network")
    unavailable = _unavailable(api)
    if unavailable in _ZERO:
        raise field_error(project, api.name, "update_strategy.max_unavailable",
                          f"{unavailable} cannot work on the host network, where max_surge must be 0",
                          hint="set update_strategy.max_unavailable to 1 (or more) in cortex.yaml")
    return "0", unavailable


def rolling_update(api: APISpec, project: Project, env: Environment) -> dict:
    """The Deployment's `strategy.rollingUpdate` for the API in this environment."""
    surge, unavailable = (_host_network_values(api, project) if env.host_network
                          else (api.update_strategy.max_surge, api.update_strategy.max_unavailable))
    return {"maxSurge": _int_or_percent(surge), "maxUnavailable": _int_or_percent(unavailable)}


def host_network_note(api: APISpec, env: Environment) -> str | None:
    """What deploy says where it chose the update strategy for the host network itself."""
    if not env.host_network or "max_surge" in api.update_strategy.model_fields_set:
        return None
    return (f"{api.name}: host network: rolling updates replace pods in place (max_surge 0, max_unavailable "
            f"{_unavailable(api)}): two pods of one API cannot share a node's port")


def _unavailable(api: APISpec) -> str:
    """max_unavailable on the host network: cortex.yaml's if set there, else one pod at a time."""
    strategy = api.update_strategy
    return strategy.max_unavailable if "max_unavailable" in strategy.model_fields_set else "1"
