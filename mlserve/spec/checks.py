"""Checks that span several APIs or touch the file system."""

from __future__ import annotations

from typing import Callable

from mlserve.errors import SpecError, SpecErrors
from mlserve.spec.models import Project


def check_project(project: Project, file: str, line_of: Callable[..., int | None]) -> None:
    """Unique names, unique endpoints and ports, predictor files that exist."""
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
        if not predictor_file.is_file():
            errors.append(SpecError(
                f"'{api.predictor.path}' does not exist (looked for {predictor_file})", file=file,
                line=line_of(i, "predictor", "path"), api=api.name, field="predictor.path",
                hint="predictor paths are relative to the folder holding cortex.yaml",
            ))
        if api.predictor.python_path is not None:
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
