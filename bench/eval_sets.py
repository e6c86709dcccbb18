"""The evaluation sets (tests/predictors/eval_*.json) and their scoring rules, shared by the
real-weight tests and the quality gate (bench/quality.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parents[1] / "tests" / "predictors"


def items(name: str) -> list[dict]:
    return json.loads((EVAL_DIR / f"eval_{name}.json").read_text())["items"]


def compose_ok(completion: str, accept: list[str]) -> bool:
    """Plausible: the completion starts with one of the accepted phrases (whole words, any case)."""
    words = completion.strip().lower()
    return any(re.match(re.escape(a.lower()) + r"\b", words) for a in accept)


def normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".!?")


def translation_ok(german: str, accepted: list[str]) -> bool:
    """Accepted: equal to one of the reference translations, ignoring case, spaces and final punctuation."""
    return normal(german) in {normal(d) for d in accepted}
