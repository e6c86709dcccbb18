"""Whether a suggested continuation is worth showing (Smart Compose shows only confident ones).

    gate = SuggestionGate.from_config({"first_word_prob": 0.1})
    shown, reason = gate.judge(text, completion, first_word_prob=0.42)  # (completion, None): show it all
    sent, final = gate.settled(text, partial, first_word_prob=0.42)  # what a stream may send yet

Rules, each off at 0:
- `repeat_words`: a run of this many words repeated from the end of the text or from the
  suggestion itself is cut off, from its first repeated word on (the loop "... the latest
  version of" -> " the latest version of the latest version" is cut to nothing);
- `min_words`: what remains holds at least this many words (a lone "." is no suggestion);
- `first_word_prob`: the model gave its first word at least this probability (the product of
  the word's token probabilities). The first word is the branching point after someone's text:
  the rest is conditioned on it, and it is what the reader judges first;
- `token_prob`: the geometric mean of all its tokens' probabilities (exp of the mean log-prob).
All but the cut hide the whole suggestion. All but `token_prob` are decided a few words in, so
a stream can send each word once `repeat_words` - 1 more are known (see `settled`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from mlserve.errors import ModelNotFound

WORD = re.compile(r"\w+(?:['’]\w+)*")
TEXT_TAIL_WORDS = 16  # a repeat further back is an ordinary phrase used twice, not a loop


@dataclass(frozen=True)
class SuggestionGate:
    min_words: int = 1
    repeat_words: int = 3
    first_word_prob: float = 0.1
    token_prob: float = 0.0

    @classmethod
    def from_config(cls, value: Mapping | bool | None) -> SuggestionGate | None:
        """The predictor config's `gate`: a mapping of the fields above (others keep their
        defaults), true or absent for the defaults, false for no gate (None)."""
        if value is False:
            return None
        if value is None or value is True:
            return cls()
        names = {f.name for f in fields(cls)}
        if not isinstance(value, Mapping) or set(value) - names:
            raise ModelNotFound(f"config gate: expected a mapping of {', '.join(sorted(names))} or false, got {value!r}",
                                hint="e.g. gate: {first_word_prob: 0.1}; see the predictor's docstring")
        try:
            gate = cls(**{k: type(getattr(cls, k))(v) for k, v in value.items()})
        except (TypeError, ValueError):
            gate = None
        if gate is None or not (0 <= gate.first_word_prob <= 1 and 0 <= gate.token_prob <= 1) or gate.min_words < 0 \
                or gate.repeat_words < 0:
            raise ModelNotFound(f"config gate: {value!r} is out of range",
                                hint="probabilities lie in 0..1, word counts are 0 or more (0 turns a rule off)")
        return gate

    @property
    def needs_logprobs(self) -> bool:
        return self.first_word_prob > 0 or self.token_prob > 0

    def judge(self, text: str, completion: str, *, first_word_prob: float | None = None,
              token_prob: float | None = None) -> tuple[str, str | None]:
        """(what of `completion` (of `text`) to show, why the rest is withheld or None). A repeat
        cuts the suggestion before its first repeated word; the other rules hide it whole ("")."""
        words = list(WORD.finditer(completion.lower()))
        cut = self._cut(text, words)
        reason = None
        if cut is not None:
            completion, words = completion[:words[cut].start()].rstrip(), words[:cut]
            reason = f"repeats {self.repeat_words} words of the text"
        if len(words) < self.min_words:
            return "", reason or f"fewer than {self.min_words} word{'s' * (self.min_words > 1)}"
        if first_word_prob is not None and first_word_prob < self.first_word_prob:
            return "", f"first word probability {first_word_prob:.2f} < {self.first_word_prob:g}"
        if token_prob is not None and token_prob < self.token_prob:
            return "", f"mean token probability {token_prob:.2f} < {self.token_prob:g}"
        return completion, reason

    def settled(self, text: str, partial: str, *, first_word_prob: float | None = None) -> tuple[str, bool]:
        """(the start of what `judge` will show for any completion that goes on from `partial`
        (whose words are all complete), whether that is already all of it): what a stream may
        send now without taking it back, and whether it may stop. A word is settled once
        `repeat_words` - 1 words follow it (a later repeat starts after it) and `min_words` words
        are settled; with a mean token probability rule, only at the end."""
        words = list(WORD.finditer(partial.lower()))
        if words and first_word_prob is not None and first_word_prob < self.first_word_prob:
            return "", True
        if self.token_prob > 0:
            return "", False
        if self._cut(text, words) is not None:  # the first cut is final: so is the verdict
            return self.judge(text, partial, first_word_prob=first_word_prob)[0], True
        safe = len(words) - max(self.repeat_words - 1, 0)
        if safe < max(self.min_words, 1):
            return "", False
        return (partial[:words[safe].start()].rstrip() if safe < len(words) else partial), False

    def _cut(self, text: str, words: Sequence[re.Match]) -> int | None:
        if not self.repeat_words:
            return None
        return first_repeat(WORD.findall(text.lower())[-TEXT_TAIL_WORDS:], [w.group() for w in words],
                            self.repeat_words)


def first_repeat(before: Sequence[str], words: Sequence[str], n: int) -> int | None:
    """Where in `words` the first run of `n` words that occurred earlier in `before` + `words`
    starts (0 when it starts in `before`), or None when `words` complete no such run."""
    joined = [*before, *words]
    seen = set()
    for end in range(n, len(joined) + 1):
        gram = tuple(joined[end - n:end])
        if end > len(before) and gram in seen:
            return max(end - n - len(before), 0)
        seen.add(gram)
    return None


def first_word_prob(text: str, ends: Sequence[int], logprobs: Sequence[float]) -> float | None:
    """The probability of the first word of `text`, generated as tokens whose text ends at
    `ends` (character offsets into `text`) with `logprobs`: the product over the tokens that
    start before the word ends. None when `text` holds no word."""
    match = WORD.search(text)
    if match is None:
        return None
    starts = [0, *ends[:-1]]
    return math.exp(sum(lp for start, lp in zip(starts, logprobs, strict=True) if start < match.end()))


def mean_prob(logprobs: Sequence[float]) -> float | None:
    """The geometric mean of the tokens' probabilities; None for no tokens."""
    return math.exp(sum(logprobs) / len(logprobs)) if logprobs else None
