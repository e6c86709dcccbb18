"""`predictor.multi_model_reloading`, in Cortex's spelling: many models behind one API.

Exactly one of `path` (one model), `paths` (named models) or `dir` (each subfolder a model) says
where the models are: a folder relative to cortex.yaml, `pkg://<package>/<folder>` or
`s3://bucket/prefix`. Integer subfolders of a model are its versions, the highest is `latest`.
`cache_size` / `disk_cache_size` bound how many models are held in memory / on disk (Cortex's
two-level LRU); without them every model is loaded and kept. The runtime checks the models every
`watch_interval` (mlserve/runtime/multimodel/).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from mlserve.spec.fields import Duration, FieldRule, _Strict

# The models list: which models the API serves. It is a third kind of change next to the two hashes
# (spec/hashing.py): a deploy pushes it to the running processes, which apply it without a restart.
LIST_FIELDS = ("path", "paths", "dir")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")


def check_model_name(v: str) -> str:
    if not _MODEL_NAME.match(v):
        raise ValueError(f"'{v}' must be letters, digits, '_', '.' and '-', start with a letter or digit, "
                         "at most 63 characters")
    return v


def _reference(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty (a folder, pkg://<package>/<folder> or s3://bucket/prefix)")
    return v.strip()


class ModelPath(_Strict):
    name: str
    path: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_model_name(v)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _reference(v)


class MultiModelReloading(_Strict):
    path: str | None = None
    paths: list[ModelPath] | None = Field(default=None, min_length=1)
    dir: str | None = None
    cache_size: int | None = Field(default=None, ge=1)
    disk_cache_size: int | None = Field(default=None, ge=1)
    # How often the runtime looks for new, removed and changed versions ("10s", "1m").
    watch_interval: Duration = 10.0

    @field_validator("path", "dir")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return None if v is None else _reference(v)

    @field_validator("watch_interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if not 0.05 <= v <= 3600:
            raise ValueError(f"must be between 50ms and 1h, got {v:g}s")
        return v

    @model_validator(mode="after")
    def _rules(self) -> MultiModelReloading:
        given = [k for k in ("path", "paths", "dir") if getattr(self, k) is not None]
        if len(given) != 1:
            raise FieldRule(given[1] if len(given) > 1 else "path",
                            "must be the only one of path, paths and dir" if given
                            else "is required: set exactly one of path, paths and dir")
        if self.paths is not None:
            names = [m.name for m in self.paths]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise FieldRule("paths", f"name the models apart: {', '.join(twice)} appear(s) more than once")
        if (self.cache_size is None) != (self.disk_cache_size is None):
            missing, given_one = ("cache_size", "disk_cache_size") if self.cache_size is None \
                else ("disk_cache_size", "cache_size")
            raise FieldRule(missing, f"must be set together with {given_one} (Cortex's rule: both or neither)")
        if self.cache_size is not None and self.disk_cache_size is not None \
                and self.disk_cache_size < self.cache_size:
            raise FieldRule("disk_cache_size", f"({self.disk_cache_size}) must be >= cache_size ({self.cache_size})")
        return self

    @property
    def caching(self) -> bool:
        return self.cache_size is not None

    def models_list(self) -> dict:
        """The list as cortex.yaml gives it: the one of path, paths and dir that is set."""
        return self.model_dump(mode="json", include=set(LIST_FIELDS), exclude_none=True)

    def with_list(self, models: dict) -> MultiModelReloading:
        """These settings serving another models list (a deployed models document), validated as in cortex.yaml."""
        settings = self.model_dump(mode="json", exclude=set(LIST_FIELDS))
        return MultiModelReloading.model_validate({**settings, **{k: models[k] for k in LIST_FIELDS if k in models}})
