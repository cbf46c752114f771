"""Shared test set-up. The gateway fixtures (`fake_gateway`, `fake_gateway_session`) come from
the `cn_llm_client.testing.pytest_plugin`, registered through the pytest11 entry point."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cn_llm_client.testing import FakeGateway

RAG_PASSAGES = (
    "长城是中国古代的军事防御工程，总长度超过两万公里。",
    "大熊猫的食物百分之九十九都是竹子，每天要吃十几公斤。",
    "乌龙茶属于半发酵茶，铁观音和武夷岩茶都属此类。",
    "二十四节气在二〇一六年被列入人类非物质文化遗产名录。",
    "西湖龙井是绿茶，产自杭州西湖一带。",
)
# question -> index of the passage that answers it
RAG_QUESTIONS = {
    "乌龙茶属于哪一类茶？": 2,
    "大熊猫的食物是什么？": 1,
    "龙井茶产自哪里？": 4,
}


@pytest.fixture
def rag_corpus() -> tuple[tuple[str, ...], dict[str, int]]:
    """Five short Chinese passages and, for each question, the passage that answers it."""
    return RAG_PASSAGES, RAG_QUESTIONS


@pytest.fixture
def dashscope() -> Iterator[FakeGateway]:
    """A fresh DashScope-mode emulator for one test."""
    with FakeGateway(mode="dashscope") as gateway:
        yield gateway


@pytest.fixture(scope="module")
def dashscope_gateway() -> Iterator[FakeGateway]:
    """An emulator that speaks like DashScope: chat, embeddings (10 rows a request) and rerank."""
    with FakeGateway(mode="dashscope") as gateway:
        yield gateway


@pytest.fixture
def gw(dashscope_gateway: FakeGateway) -> FakeGateway:
    """The module's DashScope emulator, with no requests recorded yet."""
    dashscope_gateway.reset()
    return dashscope_gateway


def _settings_of(gateway: FakeGateway) -> dict[str, Any]:
    return {"provider": "dashscope", "base_url": gateway.base_url, "api_key": gateway.api_key}


@pytest.fixture
def connection() -> Callable[[FakeGateway], dict[str, Any]]:
    """``connection(gw)``: adapter keyword arguments for a DashScope-mode emulator."""
    return _settings_of


@pytest.fixture
def batch_gateway() -> Iterator[FakeGateway]:
    """A fresh DashScope-mode emulator whose batch jobs pass each phase in 0.02 s."""
    with FakeGateway(mode="dashscope") as gateway:
        gateway.batches.phase_seconds = 0.02
        yield gateway
