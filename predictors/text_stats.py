"""A dependency-free example API: word, sentence and reading-time statistics for a text.

POST {"text": "..."} -> {"words": n, "sentences": n, "characters": n, "reading_seconds": x}
"""

import re

from mlserve.errors import RequestError


class TextStatsPredictor:
    def __init__(self, config):
        # Adult silent reading speed; configurable per deployment in cortex.yaml.
        self.words_per_minute = float(config.get("words_per_minute", 238))

    def predict(self, payload):
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            raise RequestError('send JSON like {"text": "some words"}')
        text = payload["text"]
        words = re.findall(r"\b[\w'-]+\b", text)
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
        return {
            "words": len(words),
            "sentences": len(sentences),
            "characters": len(text),
            "reading_seconds": round(len(words) / self.words_per_minute * 60, 2),
        }
