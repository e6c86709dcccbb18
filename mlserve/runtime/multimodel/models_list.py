"""Which models a multi-model API serves: its spec's list, or the deployed models document.

A deploy writes the models list (spec/hashing.py `models_document`) where the process reads it:
a file beside the API's local record, or a ConfigMap mounted as a folder on Kubernetes (kubelet
swaps the file in place). The watcher re-reads it every `POLL` seconds and applies a change at
once, without a restart. An unreadable or invalid document keeps the last good list, logged once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import ValidationError

from mlserve.spec.multi_model import MultiModelReloading

log = logging.getLogger("mlserve.runtime")
POLL = 0.25  # seconds between reads of the deployed list (a small file; a deploy waits for it)


class ModelsList:
    def __init__(self, config: MultiModelReloading, root: Path, file: Path | None) -> None:
        self.config, self.root, self.file = config, root, file
        self.version: str | None = None  # the deployed document's, once read ("GET /models" says it)
        self._text: str | None = None
        self._problem: str | None = None

    def read(self) -> bool:
        """Re-read the deployed document; True when it changed the list."""
        if self.file is None:
            return False
        try:
            text = self.file.read_text(encoding="utf-8")
        except OSError as e:
            return self._keep(f"cannot read {self.file}: {e.strerror}")
        if text == self._text:
            return False
        try:
            document = json.loads(text)
            config = self.config.with_list(document)
        except (ValueError, TypeError, AttributeError, ValidationError) as e:
            return self._keep(f"{self.file} is not a models list: {str(e).splitlines()[0]}")
        self._text, self._problem = text, None
        self.config, self.version = config, document.get("version")
        if document.get("root"):
            self.root = Path(document["root"])
        log.info("models: the deployed list %s (%s)", self.version, self.describe())
        return True

    def describe(self) -> str:
        listed = self.config.models_list()
        if "paths" in listed:
            return ", ".join(f"{m['name']}={m['path']}" for m in listed["paths"])
        return ", ".join(f"{k}={v}" for k, v in listed.items())

    def _keep(self, problem: str) -> bool:
        if problem != self._problem:
            log.error("models: %s; serving the list read before", problem)
        self._problem = problem
        return False
