"""Which Python packages go into a serving image.

The runtime's own packages come from `runtime-requirements.txt` (shared with the repository's
Dockerfile); each is pinned to the version installed here when there is one, so the image
runs the versions this machine tested. The project's `requirements.txt` is added as written.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

RUNTIME_REQUIREMENTS_FILE = Path(__file__).with_name("runtime-requirements.txt")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?")


def runtime_requirements() -> list[str]:
    """The runtime's requirement lines, pinned to the installed versions where known."""
    lines = []
    for raw in RUNTIME_REQUIREMENTS_FILE.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _NAME.match(line)
        assert m, f"unparsable line in {RUNTIME_REQUIREMENTS_FILE}: {raw!r}"
        lines.append(pin(m.group(1), m.group(2) or "", otherwise=line))
    return lines


def pin(name: str, extras: str = "", *, otherwise: str | None = None) -> str:
    """`name[extras]==<the version installed here>`; where it is not installed, `otherwise`
    (PackageNotFoundError without one)."""
    try:
        return f"{name}{extras}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        if otherwise is None:
            raise
        return otherwise


def project_requirements(root: Path) -> str | None:
    """The text of the project's requirements.txt, if it has one."""
    path = root / "requirements.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def requirement_name(requirement: str) -> str:
    """The canonical package name of a requirement line: `llama_cpp_python==0.3.36` -> `llama-cpp-python`."""
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0]).lower()
