"""Wheels for the image, downloaded on the host and cached outside the project.

Builds install from these wheels with no package index, so images build where containers
cannot reach one, and the same requirements always give the same packages. The wheels must
suit the base image's Python, not the host's: the base image is asked once (by image id).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlserve.errors import DeployError
from mlserve.files import user_cache_dir

# Printed by the base image's python3: what pip must download for it.
_PROBE = (
    "import json, platform, sys; "
    "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'libc': platform.libc_ver(), "
    "'machine': platform.machine()}))"
)


@dataclass(frozen=True)
class Target:
    python: str  # "3.11"
    glibc: str  # "2.36"
    machine: str  # "x86_64"

    def pip_args(self) -> list[str]:
        """`pip download` options that select wheels for this interpreter and platform."""
        major, minor = (int(x) for x in self.glibc.split("."))
        platforms = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 4, -1)]
        platforms += [f"manylinux2014_{self.machine}", f"manylinux2010_{self.machine}",
                      f"manylinux1_{self.machine}"]
        args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python]
        for p in platforms:
            args += ["--platform", p]
        return args


def cache_dir() -> Path:
    return user_cache_dir(env="MLSERVE_CACHE")


def probe_target(client, base_image: str) -> Target:
    """Ask the base image for its Python version and platform (cached by image id)."""
    import docker.errors

    try:
        image = client.images.get(base_image)
    except docker.errors.ImageNotFound:
        try:
            image = client.images.pull(base_image)
        except docker.errors.APIError as e:
            raise DeployError(
                f"base image '{base_image}' is not on this machine and cannot be pulled: {e.explanation or e}",
                hint="set the environment's base_image to a Python 3 image you have: "
                     "mlserve env set <env> --base-image IMAGE",
            ) from None
    cached = cache_dir() / "targets" / (image.id.replace(":", "_") + ".json")
    if cached.is_file():
        return Target(**json.loads(cached.read_text()))
    try:
        out = client.containers.run(image.id, ["python3", "-c", _PROBE], remove=True, network_mode="none")
    except docker.errors.ContainerError as e:
        raise DeployError(f"base image '{base_image}' has no working python3: {e.stderr!r}",
                          hint="use an image with Python 3 and its venv module, e.g. python:3.11-slim") from None
    info = json.loads(out.decode().strip().splitlines()[-1])
    if info["libc"][0] != "glibc":
        raise DeployError(f"base image '{base_image}' does not use glibc ({info['libc']})",
                          hint="use a Debian- or Ubuntu-based Python image, e.g. python:3.11-slim")
    target = Target(python=info["python"], glibc=info["libc"][1], machine=info["machine"])
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(target.__dict__))
    return target


def download_wheels(requirements: str, target: Target, progress) -> list[Path]:
    """Wheels for `requirements` (requirements.txt text) and their dependencies, cached by both."""
    key = hashlib.sha256(json.dumps([requirements, target.__dict__]).encode()).hexdigest()[:20]
    folder = cache_dir() / "wheels" / key
    if (folder / ".complete").is_file():
        return sorted(folder.glob("*.whl"))
    progress(f"downloading wheels for Python {target.python} ({target.machine}) into {folder}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(requirements)
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
               "-d", str(Path(tmp) / "wheels"), *target.pip_args(), "-r", str(req)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise DeployError(
                "could not download the wheels for the image:\n" + result.stderr.strip()[-2000:],
                hint=f"every package in requirements.txt needs a wheel for Python {target.python} on "
                     f"Linux {target.machine}; check the names and versions, or pin one that ships wheels",
            )
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(Path(tmp) / "wheels", folder)  # whole folder at once: no half-filled cache
    (folder / ".complete").touch()
    return sorted(folder.glob("*.whl"))
