"""`mlserve init`: a new project that `mlserve deploy` serves at once.

Writes a typed predictor, cortex.yaml, a sample payload and a pytest test from the templates in
mlserve/template/; never overwrites a file.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from mlserve.errors import MlserveError

# template name -> file written
FILES = {
    "predictor.py.tmpl": "predictor.py",
    "cortex.yaml.tmpl": "cortex.yaml",
    "payload.json.tmpl": "payload.json",
    "test_predictor.py.tmpl": "test_predictor.py",
}


class ProjectExists(MlserveError):
    """`mlserve init` would overwrite files."""


def api_name(folder: Path) -> str:
    """The folder's name as an API name (lower-case letters, digits, dashes), else 'my-api'."""
    name = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")
    return name if re.fullmatch(r"[a-z][a-z0-9-]{0,62}", name or "") else "my-api"


def write_project(folder: str | Path, api: str | None = None) -> list[Path]:
    """Write the project into `folder` (created if needed); returns the files written."""
    folder = Path(folder)
    targets = [folder / name for name in FILES.values()]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise ProjectExists(f"not overwriting existing files: {', '.join(existing)}",
                            hint="run `mlserve init` in an empty folder, or move those files away")
    api = api or api_name(folder)
    folder.mkdir(parents=True, exist_ok=True)
    templates = resources.files("mlserve") / "template"
    for template, target in zip(FILES, targets, strict=True):
        text = Template(templates.joinpath(template).read_text()).substitute(api=api)
        target.write_text(text)
    return targets
