"""Optional dependencies: which `pip install 'mlserve[EXTRA]'` brings a missing module.

The core install (spec, runtime, local deploy, CLI, client) needs none of these; model helpers
need `llm`, cluster deploys `kubernetes`, AWS deploys and `s3://` models `aws`, `mlserve finetune
--lora` `finetune`. `all` has everything.
"""

from __future__ import annotations

import importlib
import os

from mlserve.contract import env
from mlserve.errors import MissingExtra

# Set in the pods of an image (manifests.py): there pip extras are not the fix, the image's packages are.
IN_IMAGE_ENV = env.IN_IMAGE

# top-level module -> the extra that installs it
EXTRA_OF = {
    "torch": "llm", "transformers": "llm", "safetensors": "llm", "gguf": "llm", "accelerate": "llm",
    "kubernetes": "kubernetes", "docker": "kubernetes",
    "boto3": "aws", "botocore": "aws",
    "peft": "finetune",
}


def missing_extra(error: ModuleNotFoundError, feature: str | None = None) -> MissingExtra | None:
    """The MissingExtra an import error of an optional module means; None for any other module."""
    module = (error.name or "").split(".")[0]
    extra = EXTRA_OF.get(module)
    if extra is None:
        return None
    needs = f"{feature} needs" if feature else "this needs"
    return MissingExtra(f"{needs} the '{module}' package, which is not installed",
                        hint=install_hint(module, f"pip install 'mlserve[{extra}]' (or 'mlserve[all]')"))


def install_hint(package: str, outside: str) -> str:
    """How to get a missing package: `outside` (a pip command) on a machine; in an image, the
    project's requirements.txt, which the next deploy builds into the image."""
    if os.environ.get(IN_IMAGE_ENV) == "1":
        return f"the image lacks the '{package}' package: add it to the project's requirements.txt and deploy again"
    return outside


def require(feature: str, *modules: str) -> None:
    """Import `modules` (the feature is about to use them); raise MissingExtra naming the extra
    when one is not installed."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            raise missing_extra(e, feature) or e from None
