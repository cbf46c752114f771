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
