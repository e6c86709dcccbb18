"""cortex.yaml: models, loading with precise errors, cross-API checks, hashes."""

from mlserve.spec.asyncapi import AsyncAPISpec
from mlserve.spec.hashing import api_files, models_document, runtime_hash, runtime_spec, spec_hash
from mlserve.spec.loader import load_project
from mlserve.spec.models import (
    APISpec,
    Autoscaling,
    Compute,
    Networking,
    Predictor,
    Project,
    ServerSideBatching,
    UpdateStrategy,
    parse_duration,
)
from mlserve.spec.splitter import SplitterBackend, TrafficSplitterSpec

__all__ = [
    "APISpec", "AsyncAPISpec", "Autoscaling", "Compute", "Networking", "Predictor", "Project",
    "ServerSideBatching", "UpdateStrategy", "load_project", "parse_duration",
    "api_files", "models_document", "runtime_hash", "runtime_spec", "spec_hash", "SplitterBackend", "TrafficSplitterSpec",
]
