"""The spec's building blocks shared by every kind: strict models, durations, names, and the
cross-field rule error that `loader.py` reports at the field it names."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^(\d+(\.\d+)?)(ms|s|m|h)$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class FieldRule(ValueError):
    """A rule across fields, reported at one of them: `loader.py` reads the field from the error's
    context (pydantic keeps this exception there) and points at that field's line and path
    (`field` may be a dotted path below the model that raised it, e.g. "autoscaling.min_replicas")."""

    def __init__(self, field: str, rule: str, *, hint: str | None = None) -> None:
        super().__init__(f"{field} {rule}")
        self.field, self.rule, self.hint = field, rule, hint


def check_name(v: str) -> str:
    """An API or splitter name: usable as a Kubernetes object name and a URL path."""
    if not _NAME.match(v):
        raise ValueError(
            f"'{v}' must be lowercase letters, digits and '-', start with a letter, at most 63 characters"
        )
    return v


def parse_duration(text: str) -> float:
    """'250ms' / '10s' / '1m' -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a duration (use e.g. 250ms, 10s, 1m)")
    return float(m.group(1)) * _DURATION_SECONDS[m.group(3)]


# Cortex writes durations as strings ("100ms"); a bare number means seconds.
Duration = Annotated[float, BeforeValidator(lambda v: parse_duration(v) if isinstance(v, str) else v)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)
