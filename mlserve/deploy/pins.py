"""Model pins: `mlserve deploy` fixes which version of each `s3://` model an API runs.

For every s3:// string in `predictor.config` (nested values too), deploy lists the prefix once and
passes {url: version} to the process in its environment (`s3.PINS_ENV`). The pins are part of the
runtime hash, so changed objects restart the API (locally) or roll its pods (Kubernetes) on the
next deploy, and a crash restart or `mlserve refresh` serves the deployed version, never objects
uploaded since (see `mlserve.models.s3.fetch`).
"""

from __future__ import annotations

import json

from mlserve.models import s3
from mlserve.spec import APISpec
from mlserve.spec.hashing import _strings


def pinned_env(api: APISpec) -> dict[str, str]:
    """The environment that pins the API's s3:// models ({} without any: boto3 is not imported)."""
    urls = sorted({text.strip() for text in _strings(api.predictor.config) if s3.is_s3(text)})
    if not urls:
        return {}
    return {s3.PINS_ENV: json.dumps({url: s3.current_version(url) for url in urls}, sort_keys=True)}
