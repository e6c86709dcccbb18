"""Smart Compose exactly as the seed serves it (`predictors/text_generator.py`), from the bench's
own folder: a predictor path must stay inside the folder holding its cortex.yaml."""

import importlib.util
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[2] / "predictors" / "text_generator.py"
_spec = importlib.util.spec_from_file_location("bench_text_generator", GENERATOR)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)


class ComposePredictor(_module.TextGeneratorPredictor):
    """The seed's generator, unchanged."""
