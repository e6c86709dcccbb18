"""What a text-generation predictor implements to answer the OpenAI-compatible routes.

    from mlserve.completions import TextRequest, TextResult

    class MyPredictor:
        def predict(self, payload): ...            # the native route, as always
        def stream(self, payload): ...             # optional: pieces of text, for `stream: true`

        def openai_payload(self, request: TextRequest):
            # The payload predict()/stream() take for this request. Raise
            # mlserve.errors.UnsupportedParameter for what the predictor cannot do (an OpenAI 400).
            return {"text": request.prompt, "max_new_tokens": request.max_tokens}

        def openai_result(self, result, request: TextRequest) -> TextResult:
            # What predict() returned for that payload, as OpenAI's text and token counts.
            return TextResult(result["completion"], prompt_tokens=..., completion_tokens=result["tokens"],
                              finish_reason="stop")

        def chat_prompt(self, messages: list[dict]) -> str:   # optional
            # The chat messages as one prompt, in the model's own chat template
            # (mlserve.models.render_chat); without it a plain transcript is used.

A predictor with `openai_payload` and `openai_result` answers `POST <endpoint>/v1/completions`,
`POST <endpoint>/v1/chat/completions` and `GET <endpoint>/v1/models` (mlserve/runtime/openai.py);
its requests go through the same admission, sessions, typed check and server-side batching as the
native route, because they become the same payloads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextRequest:
    """One OpenAI completion or chat request; None: the field was not sent (the API's default)."""

    prompt: str  # for chat: the messages rendered by the predictor's chat_prompt
    chat: bool
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class TextResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # "stop": the text ended; "length": max_tokens cut it
