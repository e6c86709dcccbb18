"""Smart Compose with int8 dynamic quantisation: the fast path the benchmark measures.

Wraps `predictors/text_generator.py` (same config, same answers contract) and replaces the
float Linear layers with int8 dynamically quantised ones; decoding one token reads every
weight once, so a quarter of the bytes is most of the win on a CPU. Config on top of the
generator's: `quantize_lm_head` (default false: the output layer stays float, which keeps the
greedy suggestions closest to the float model's).
"""

import importlib.util
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[2] / "predictors" / "text_generator.py"


def quantize_int8(model, *, lm_head: bool = False):
    """Dynamically quantise `model`'s nn.Linear layers to int8 (in place, returns the model).
    GPT-2's Conv1D layers are not nn.Linear and stay float here."""
    import torch

    names = {name for name, m in model.named_modules()
             if isinstance(m, torch.nn.Linear) and (lm_head or not name.endswith("lm_head"))}
    return torch.ao.quantization.quantize_dynamic(model, names, dtype=torch.qint8, inplace=True)


def load_generator(config):
    spec = importlib.util.spec_from_file_location("bench_text_generator", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TextGeneratorPredictor(config)


class Int8ComposePredictor:
    def __init__(self, config):
        self.inner = load_generator({**config, "engine": "torch"})
        gen = self.inner.generator
        gen.model = quantize_int8(gen.model, lm_head=bool(config.get("quantize_lm_head", False)))
        self.generator = gen

    def predict(self, payload):
        return self.inner.predict(payload)

    def stream(self, payload):
        return self.inner.stream(payload)
