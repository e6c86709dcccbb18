"""Checks that span several entries (APIs, traffic splitters) or touch the file system."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlserve.errors import SpecError, SpecErrors
from mlserve.spec.models import APISpec, Project


def check_project(project: Project, file: str, line_of: Callable[..., int | None]) -> None:
    """Unique names, unique endpoints and ports, predictor files that exist inside the project."""
    errors: list[SpecError] = []
    seen_names: dict[str, int] = {}
    seen_endpoints: dict[str, str] = {}
    seen_ports: dict[int, str] = {}
    for i, api in enumerate(project.apis):
        if api.name in seen_names:
            errors.append(SpecError(
                f"duplicate api name (also item {seen_names[api.name] + 1})", file=file,
                line=line_of(i, "name"), api=api.name, field="name", hint="give every api a unique name",
            ))
        seen_names.setdefault(api.name, i)

        endpoint = api.endpoint
        if endpoint in seen_endpoints:
            errors.append(SpecError(
                f"'{endpoint}' is already used by api '{seen_endpoints[endpoint]}'", file=file,
                line=line_of(i, "networking", "endpoint"), api=api.name, field="networking.endpoint",
                hint="give every api its own endpoint",
            ))
        seen_endpoints.setdefault(endpoint, api.name)

        port = api.networking.local_port
        if port is not None and port in seen_ports:
            errors.append(SpecError(
                f"port {port} is already used by api '{seen_ports[port]}'", file=file,
                line=line_of(i, "networking", "local_port"), api=api.name, field="networking.local_port",
                hint="pick another port or leave it out to get a free one",
            ))
        if port is not None:
            seen_ports.setdefault(port, api.name)

        predictor_file = api.predictor_file(project.root)
        outside = _outside_project(api, project.root, file, line_of, i)
        errors += outside
        if not outside and not predictor_file.is_file():
            errors.append(SpecError(
                f"'{api.predictor.path}' does not exist (looked for {predictor_file})", file=file,
                line=line_of(i, "predictor", "path"), api=api.name, field="predictor.path",
                hint="predictor paths are relative to the folder holding cortex.yaml",
            ))
        if api.predictor.python_path is not None and not outside:
            python_path = (project.root / api.predictor.python_path).resolve()
            if not python_path.is_dir():
                errors.append(SpecError(
                    f"'{api.predictor.python_path}' is not a folder", file=file,
                    line=line_of(i, "predictor", "python_path"), api=api.name,
                    field="predictor.python_path", hint="python_path is relative to the folder holding cortex.yaml",
                ))
        errors.extend(_static_folder_errors(project, api, i, file, line_of))
    if errors:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)


def _static_folder_errors(project: Project, api, i: int, file: str, line_of) -> list[SpecError]:
    """networking.static must name a folder inside the project (it goes into the image)."""
    folder = api.static_folder(project.root)
    if folder is None:
        return []
    where = dict(file=file, line=line_of(i, "networking", "static"), api=api.name, field="networking.static")
    if not folder.is_relative_to(project.root):
        return [SpecError(f"'{api.networking.static}' is outside the project folder ({project.root})", **where,
                          hint="static files must live under the folder holding cortex.yaml")]
    if not folder.is_dir():
        return [SpecError(f"'{api.networking.static}' is not a folder (looked for {folder})", **where,
                          hint="networking.static is a folder relative to the folder holding cortex.yaml")]
    return []


def _outside_project(api: APISpec, root: Path, file: str, line_of: Callable[..., int | None],
                     index: int) -> list[SpecError]:
    """Predictor paths must stay inside the project: only its files are snapshotted and put in images."""
    errors = []
    for field, value in (("path", api.predictor.path), ("python_path", api.predictor.python_path)):
        if value is None:
            continue
        resolved = (root / value).resolve()
        if not resolved.is_relative_to(root.resolve()):
            errors.append(SpecError(
                f"'{value}' is outside the project folder {root} (it resolves to {resolved})", file=file,
                line=line_of(index, "predictor", field), api=api.name, field=f"predictor.{field}",
                hint="move the file into the folder holding cortex.yaml and give its path relative to that "
                     "folder: only project files are deployed (snapshotted locally, copied into the image)",
            ))
    return errors


def check_splitters(project: Project, file: str, line_of: Callable[..., int | None]) -> None:
    """Splitter names, endpoints and ports clash with nothing; the APIs they name are RealtimeAPIs here."""
    errors: list[SpecError] = []
    owners = {api.name: "api" for api in project.apis}
    endpoints = {api.endpoint: api.name for api in project.apis}
    ports = {api.networking.local_port: api.name for api in project.apis if api.networking.local_port}
    splitter_names = {s.name for s in project.splitters}
    for i, splitter in enumerate(project.splitters):
        def error(message: str, field: tuple, hint: str, i: int = i, splitter=splitter) -> None:
            errors.append(SpecError(message, file=file, line=line_of(i, *field), api=splitter.name,
                                    field=".".join(str(f) for f in field), hint=hint))

        if splitter.name in owners:
            error(f"'{splitter.name}' is already the name of an {owners[splitter.name]}", ("name",),
                  "give every api and traffic splitter a unique name")
        owners.setdefault(splitter.name, "traffic splitter")
        if splitter.endpoint in endpoints:
            error(f"'{splitter.endpoint}' is already used by '{endpoints[splitter.endpoint]}'",
                  ("networking", "endpoint"), "give the traffic splitter its own endpoint")
        endpoints.setdefault(splitter.endpoint, splitter.name)
        port = splitter.networking.local_port
        if port is not None and port in ports:
            error(f"port {port} is already used by '{ports[port]}'", ("networking", "local_port"),
                  "pick another port or leave it out to get a free one")
        if port is not None:
            ports.setdefault(port, splitter.name)
        known = [api.name for api in project.apis]
        for j, target in enumerate(splitter.apis):
            if target.name in known:
                continue
            if target.name in splitter_names:
                error(f"'{target.name}' is a TrafficSplitter; a splitter sends traffic to RealtimeAPIs only",
                      ("apis", j, "name"), "name the RealtimeAPIs themselves")
            elif target.name not in known:
                error(f"no RealtimeAPI named '{target.name}' in this file", ("apis", j, "name"),
                      f"define it in the same file (apis here: {', '.join(known) or 'none'})")
    if errors:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)
