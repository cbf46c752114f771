"""Shared fixtures: CNLLM instances pointed at the offline gateway emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from llama_index_cn_llm import CNLLM

MakeLLM = Callable[..., CNLLM]


@pytest.fixture
async def make_llm(fake_gateway: Any) -> AsyncIterator[MakeLLM]:
    """`make_llm("deepseek-r1", temperature=0)`: a CNLLM talking to the emulator.

    Async so that teardown runs in the test's event loop and closes the pooled connections
    there (an aiohttp pool must be closed by the loop that opened it).
    """
    made: list[CNLLM] = []

    def make(model: str = "qwen3-max", **fields: Any) -> CNLLM:
        llm = CNLLM(
            model=model, base_url=fake_gateway.base_url, api_key=fake_gateway.api_key, **fields
        )
        made.append(llm)
        return llm

    yield make
    for llm in made:
        await llm.aclose()
        llm.close()
