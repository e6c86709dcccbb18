"""Load the seed predictors by file path, as the runtime does (shared by the predictor tests)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREDICTORS = ROOT / "predictors"
REFERENCE = PREDICTORS / "reference" / "machine_learning.md"


def load_predictor(name: str, config: dict):
    """Load predictors/<name>.py by path, as the runtime does, and build its one Predictor class."""
    spec = importlib.util.spec_from_file_location(f"seed_{name}", PREDICTORS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    [cls] = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__
             and hasattr(v, "predict")]
    return cls(config)


def predictor_module(name: str):
    spec = importlib.util.spec_from_file_location(f"seed_{name}_module", PREDICTORS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
