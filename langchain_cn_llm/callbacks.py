"""Token and cost totals over every ChatCNLLM call made inside a ``with`` block.

Example:
    ```python
    from langchain_cn_llm import ChatCNLLM, get_cn_llm_callback

    llm = ChatCNLLM(model="qwen3-max")
    with get_cn_llm_callback() as cb:
        llm.invoke("你好")
        llm.batch(["写一首诗", "讲个笑话"])
    print(cb.total_tokens, cb.total_cost, cb.successful_requests)
    ```

Built on langchain-core's ``UsageMetadataCallbackHandler`` (per-model ``usage_metadata``, already
thread-safe) and adds what it lacks: the cost in USD that ChatCNLLM puts in
``response_metadata["cost"]`` (from the gateway's ``usage.cost`` or the catalog's prices).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers.context import register_configure_hook

__all__ = ["CNLLMCallbackHandler", "get_cn_llm_callback"]


class CNLLMCallbackHandler(UsageMetadataCallbackHandler):
    """Totals tokens, reasoning tokens and USD cost across sync, async, streamed and threaded calls."""

    def __init__(self) -> None:
        super().__init__()
        self._totals_lock = threading.Lock()
        self.successful_requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.reasoning_tokens = 0
        self.cached_tokens = 0
        self.total_cost = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __repr__(self) -> str:
        return (
            f"Tokens Used: {self.total_tokens}\n"
            f"\tPrompt Tokens: {self.prompt_tokens} (cached: {self.cached_tokens})\n"
            f"\tCompletion Tokens: {self.completion_tokens} (reasoning: {self.reasoning_tokens})\n"
            f"Successful Requests: {self.successful_requests}\n"
            f"Total Cost (USD): ${self.total_cost:.6f}"
        )

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        super().on_llm_end(response, **kwargs)
        for generations in response.generations:
            for generation in generations:
                if isinstance(generation, ChatGeneration) and isinstance(
                    generation.message, AIMessage
                ):
                    self._add(generation.message)

    def _add(self, message: AIMessage) -> None:
        usage: dict[str, Any] = dict(message.usage_metadata or {})
        cost = message.response_metadata.get("cost")
        with self._totals_lock:
            self.successful_requests += 1
            self.prompt_tokens += usage.get("input_tokens", 0)
            self.completion_tokens += usage.get("output_tokens", 0)
            self.cached_tokens += (usage.get("input_token_details") or {}).get("cache_read") or 0
            self.reasoning_tokens += (usage.get("output_token_details") or {}).get("reasoning") or 0
            if isinstance(cost, int | float):
                self.total_cost += cost


_callback_var: ContextVar[CNLLMCallbackHandler | None] = ContextVar("cn_llm_callback", default=None)
register_configure_hook(_callback_var, inheritable=True)


@contextmanager
def get_cn_llm_callback() -> Iterator[CNLLMCallbackHandler]:
    """Collect tokens and cost of every chat model call made inside the block (see module doc)."""
    handler = CNLLMCallbackHandler()
    token = _callback_var.set(handler)
    try:
        yield handler
    finally:
        _callback_var.reset(token)
