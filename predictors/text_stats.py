"""A dependency-free example API: word, sentence and reading-time statistics for a text.

POST {"text": "..."} -> {"words": n, "sentences": n, "characters": n, "reading_seconds": x}
"""

import re

from pydantic import BaseModel, ConfigDict, Field


class TextStatsRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "Serving models is fun. Try it!"}]})

    text: str = Field(description="The text to measure")


class TextStats(BaseModel):
    words: int
    sentences: int
    characters: int
    reading_seconds: float = Field(description="At the configured words_per_minute")


class TextStatsPredictor:
    def __init__(self, config):
        # Adult silent reading speed; configurable per deployment in cortex.yaml.
        self.words_per_minute = float(config.get("words_per_minute", 238))

    def predict(self, payload: TextStatsRequest) -> TextStats:
        text = payload.text  # the runtime has validated the body (422 naming the field otherwise)
        words = re.findall(r"\b[\w'-]+\b", text)
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
        return TextStats(
            words=len(words),
            sentences=len(sentences),
            characters=len(text),
            reading_seconds=round(len(words) / self.words_per_minute * 60, 2),
        )
