"""A chat as prompt tokens, through the model's own chat template."""

from __future__ import annotations

from typing import Any


def chat_token_ids(tokenizer: Any, chat: list[dict[str, str]]) -> list[int]:
    """A chat as prompt token ids through a Hugging Face tokenizer's chat template (generation prompt added)."""
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
