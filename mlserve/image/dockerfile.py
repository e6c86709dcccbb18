"""The Dockerfile of a project's serving image (a pure function of its inputs).

Layout of the build context it expects (made by `mlserve.image.context`):

    requirements/runtime.txt   requirements/project.txt (optional)
    wheels/                    every wheel both need (downloaded on the host)
    mlserve/                   the mlserve package (only its runtime is imported)
    app/                       the project: cortex.yaml, predictors, files not in .mlserveignore

Packages are installed in a first stage so the wheels do not stay in the final image.
"""

from __future__ import annotations

import json

APP_DIR = "/app"
CONTAINER_PORT = 8080
# The runtime runs as this user (numeric, so Kubernetes can check runAsNonRoot); its HOME holds
# caches (models, hub downloads) and is an emptyDir on Kubernetes, as is /tmp.
RUNTIME_UID = 10001
HOME_DIR = "/home/mlserve"
ENTRYPOINT = ["python", "-m", "mlserve.runtime"]


def render_dockerfile(base_image: str, *, spec_file: str = "cortex.yaml",
                      project_requirements: bool = False) -> str:
    """Dockerfile text: `base_image` (any image with python3 and its venv module) + runtime + project."""
    requirements = "-r /tmp/requirements/runtime.txt"
    if project_requirements:
        requirements += " -r /tmp/requirements/project.txt"
    spec_path = f"{APP_DIR}/{spec_file}"
    return f"""\
# Made by mlserve from the project; rebuilt only when its content hash changes.
FROM {base_image} AS packages
RUN python3 -m venv /opt/venv
COPY requirements/ /tmp/requirements/
COPY wheels/ /tmp/wheels/
# Wheels were downloaded on the host: the build needs no package index.
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels {requirements}

FROM {base_image}
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONPATH=/opt/mlserve \\
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=packages /opt/venv /opt/venv
COPY mlserve/ /opt/mlserve/mlserve/
COPY app/ {APP_DIR}/
WORKDIR {APP_DIR}
RUN mkdir -p {HOME_DIR} && chown {RUNTIME_UID}:{RUNTIME_UID} {HOME_DIR}
ENV MLSERVE_SPEC={spec_path} MLSERVE_PORT={CONTAINER_PORT} MLSERVE_HOST=0.0.0.0 HOME={HOME_DIR}
USER {RUNTIME_UID}:{RUNTIME_UID}
EXPOSE {CONTAINER_PORT}
ENTRYPOINT {json.dumps(ENTRYPOINT)}
"""
