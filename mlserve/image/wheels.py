"""Wheels for the image, downloaded on the host and cached outside the project.

Builds install from these wheels with no package index, so images build where containers
cannot reach one, and the same requirements always give the same packages. The wheels must
suit the base image's Python, not the host's: the base image is asked once (by image id).

A package that publishes no wheel (llama-cpp-python ships only its source) is built here once,
when this machine's Python and C library match the image's, into a wheel cached by package,
version and target, and reused by every later build; see `build_from_source`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from mlserve.errors import DeployError
from mlserve.files import user_cache_dir
from mlserve.image.requirements import requirement_name

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
    accelerator: str = "cpu"  # "cuda" when an API asks for a GPU: source builds enable it (GPU_BUILD_ENV)

    def pip_args(self) -> list[str]:
        """`pip download` options that select wheels for this interpreter and platform."""
        major, minor = (int(x) for x in self.glibc.split("."))
        platforms = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 4, -1)]
        platforms += [f"manylinux2014_{self.machine}", f"manylinux2010_{self.machine}",
                      f"manylinux1_{self.machine}",
                      # Wheels built here from source carry the plain tag; indexes do not accept it,
                      # so only those (from --find-links) match it.
                      f"linux_{self.machine}"]
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


_NO_WHEEL = re.compile(r"No matching distribution found for ([^\s;]+)")
_LISTED = " (`mlserve deploy --dry-run --env ENV` lists what the image installs and why)"
# How a package is built from source for an image that runs on other machines than this one:
# no -march=native. llama.cpp then targets x86-64-v3 (AVX2, FMA, F16C) and runs its own thread
# pool instead of OpenMP, so the image needs no libgomp (README#kubernetes-and-aws has what it costs).
_LLAMA_PORTABLE = "-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF"
PORTABLE_BUILD_ENV = {"llama-cpp-python": {"CMAKE_ARGS": _LLAMA_PORTABLE}}
# ...and for an image whose APIs ask for a GPU: llama.cpp's CUDA backend (needs the CUDA toolkit here).
GPU_BUILD_ENV = {"llama-cpp-python": {"CMAKE_ARGS": f"{_LLAMA_PORTABLE} -DGGML_CUDA=on"}}



def download_wheels(requirements: str, target: Target, progress, *, deps: bool = True) -> list[Path]:
    """Wheels for `requirements` (requirements.txt text), with their dependencies unless `deps` is
    false, cached by all three. Packages with no wheel are built from source (`build_from_source`)."""
    key = hashlib.sha256(json.dumps([requirements, target.__dict__, deps]).encode()).hexdigest()[:20]
    folder = cache_dir() / "wheels" / key
    if (folder / ".complete").is_file():
        return sorted(folder.glob("*.whl"))
    progress(f"downloading wheels for Python {target.python} ({target.machine}) into {folder}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    built = built_dir(target)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(requirements)
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
               "-d", str(Path(tmp) / "wheels"), *target.pip_args(), "--find-links", str(built),
               *([] if deps else ["--no-deps"]), "-r", str(req)]
        tried: set[str] = set()
        while (result := subprocess.run(cmd, capture_output=True, text=True)).returncode != 0:
            missing = _NO_WHEEL.search(result.stderr)
            if missing is None or missing.group(1) in tried:
                raise DeployError(
                    "could not download the wheels for the image:\n" + result.stderr.strip()[-2000:],
                    hint=f"every package the image needs must have a wheel for Python {target.python} on "
                         f"Linux {target.machine} or a source archive; check the names and versions{_LISTED}")
            tried.add(missing.group(1))
            build_from_source(missing.group(1), target, progress)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(Path(tmp) / "wheels", folder)  # whole folder at once: no half-filled cache
    (folder / ".complete").touch()
    return sorted(folder.glob("*.whl"))


def built_dir(target: Target) -> Path:
    """Where wheels built from source for `target` are kept (one per package and version)."""
    folder = cache_dir() / "built" / (f"cp{target.python.replace('.', '')}-glibc{target.glibc}-{target.machine}"
                                      + ("" if target.accelerator == "cpu" else f"-{target.accelerator}"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def host_target() -> Target:
    import platform

    libc, version = platform.libc_ver()
    return Target(python=f"{sys.version_info[0]}.{sys.version_info[1]}", glibc=version if libc == "glibc" else "",
                  machine=platform.machine())


def build_from_source(requirement: str, target: Target, progress) -> Path:
    """Build `requirement` (a package that ships no wheel for `target`) into the built-wheel cache."""
    name = requirement_name(requirement)
    if host_target() != replace(target, accelerator="cpu"):
        raise DeployError(
            f"'{requirement}' ships no wheel for the image's Python {target.python} (glibc {target.glibc}, "
            f"{target.machine}), and this machine cannot build one for it (it has {host_target()})",
            hint=f"build the wheel on a machine like the image (`pip wheel --no-deps '{requirement}'`) and "
                 f"put it in {built_dir(target)}, or use a base image that matches this machine")
    folder = built_dir(target)
    if (cached := _built_wheel(requirement, folder)) is not None:
        return cached
    flags = GPU_BUILD_ENV if target.accelerator == "cuda" else PORTABLE_BUILD_ENV
    env = {**os.environ, **flags.get(name, {})}
    progress(f"'{requirement}' ships no wheel: building it from source once (cached in {folder})")
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "-q", "--no-cache-dir",
               "--no-deps", "--no-binary", name, "-w", tmp, requirement]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wheels = list(Path(tmp).glob("*.whl"))
        if _NO_WHEEL.search(result.stderr):
            raise DeployError(f"'{requirement}' is not on the package index: neither a wheel nor a source archive",
                              hint=f"check the name and version{_LISTED}")
        if result.returncode != 0 or len(wheels) != 1:
            raise DeployError(
                f"building '{requirement}' from source failed:\n" + (result.stderr or result.stdout).strip()[-2000:],
                hint="it needs a C/C++ compiler and cmake here (Debian: apt-get install build-essential cmake); "
                     f"or put a wheel built for Python {target.python} on Linux {target.machine} in {folder}")
        os.replace(wheels[0], folder / wheels[0].name)
    return folder / wheels[0].name


def _built_wheel(requirement: str, folder: Path) -> Path | None:
    """The wheel of `name==version` already built into `folder`, if there is one."""
    _, sep, version = requirement.partition("==")
    if not sep:
        return None
    stem = requirement_name(requirement).replace("-", "_")
    found = [w for w in folder.glob("*.whl") if w.name.lower().startswith(f"{stem}-{version.strip()}-")]
    return found[0] if found else None


def main() -> None:
    """`python -m mlserve.image.wheels EXTRA`: portable wheels of the packages of mlserve's EXTRA that
    ship only their source, built for this machine into the built-wheel cache (or found there); prints
    that folder. install.sh installs llama.cpp this way, so this machine runs the build its images run."""
    from mlserve.image.needs import extra_requirements

    target = host_target()
    for requirement in extra_requirements(sys.argv[1]):
        if requirement_name(requirement) in PORTABLE_BUILD_ENV:
            wheel = build_from_source(requirement, target, lambda m: print(m, file=sys.stderr))
            print(f"{requirement}: {wheel}", file=sys.stderr)
    print(built_dir(target))


if __name__ == "__main__":
    main()
