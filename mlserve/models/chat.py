"""Chat messages as one prompt: the model's own chat template where it has one, a plain
transcript otherwise.

The template is the Jinja text a GGUF carries as `tokenizer.chat_template` (a transformers
tokenizer as `chat_template`), rendered as transformers and llama.cpp render it: a sandboxed
environment, `messages`, `add_generation_prompt=True`, `bos_token` / `eos_token`.
Without a template the prompt is "System: ...\\nUser: ...\\nAssistant:" (each role capitalised),
which base models continue sensibly.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from mlserve.errors import RequestError


@lru_cache(maxsize=8)
def _compile(template: str) -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise RequestError(f"the model's chat template refused the messages: {message}",
                           hint="check the roles and their order (many templates want user/assistant turns)")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


def render_chat(template: str | None, messages: Sequence[dict], *, bos_token: str = "", eos_token: str = "") -> str:
    """The prompt for `messages` ({"role", "content": str}), ending where the assistant's turn starts."""
    if not template:
        lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        return "\n".join([*lines, "Assistant:"])
    from jinja2 import TemplateError

    try:
        return _compile(template).render(messages=list(messages), add_generation_prompt=True,
                                         bos_token=bos_token, eos_token=eos_token)
    except TemplateError as e:
        raise RequestError(f"the model's chat template failed on these messages: {e}",
                           hint="send plain-text messages; or use /v1/completions with your own prompt") from None
