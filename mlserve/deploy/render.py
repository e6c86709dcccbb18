"""Every Kubernetes object of a project, kind by kind (each kind renders its own: kinds/)."""

from __future__ import annotations

from mlserve import kinds
from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import assign_ports, registry_prefix
from mlserve.spec import Project


def render_manifests(project: Project, env: Environment, *, image: str | None = None,
                     hpa_version: str = "autoscaling/v2", context=None, istio: bool = False) -> list[dict]:
    """Every object for every entry of `project`, as `mlserve deploy --dry-run -o yaml` prints them.

    Without `image`, the reference the build would push is computed from the project's content
    (its build context: `context`, or made here). With `istio` (the cluster serves VirtualServices)
    traffic splitters are VirtualServices instead of pods (istio.py).
    """
    from mlserve.image.builder import image_tag
    from mlserve.image.context import build_context, dependencies_digest

    ctx = context or build_context(project, env.base_image)
    image = image or f"{registry_prefix(env)}/{env.repository}:{image_tag(ctx)}"
    dependencies = dependencies_digest(ctx)
    entries = kinds.entries(project)
    ports = assign_ports([entry for _, entry in entries], env.host_network)
    objects: list[dict] = []
    for kind, entry in entries:
        objects += kind.render(entry, project, env, image=image, ports=ports, hpa_version=hpa_version,
                               dependencies=dependencies, istio=istio)
    return objects
