"""Shared fixtures: CNLLM instances pointed at the offline gateway emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llama_index_cn_llm import CNLLM

MakeLLM = Callable[..., CNLLM]


@pytest.fixture
def make_llm(fake_gateway: Any) -> MakeLLM:
    """`make_llm("deepseek-r1", temperature=0)`: a CNLLM talking to the emulator."""

    def make(model: str = "qwen3-max", **fields: Any) -> CNLLM:
        return CNLLM(
            model=model, base_url=fake_gateway.base_url, api_key=fake_gateway.api_key, **fields
        )

    return make


def sent_messages(gateway: Any, index: int = -1) -> list[dict[str, Any]]:
    """The `messages` of one request the emulator received."""
    return request_body(gateway, index)["messages"]  # type: ignore[no-any-return]


def request_body(gateway: Any, index: int = -1) -> dict[str, Any]:
    request = gateway.requests[index]
    body = request["body"] if isinstance(request, dict) else request.body
    return body  # type: ignore[no-any-return]
