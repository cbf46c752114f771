"""CNLLM: cache reads in the response's additional_kwargs, CachePoint blocks as DashScope markers."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import CacheControl, CachePoint, TextBlock
from llama_index.core.llms import ChatMessage

from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from llama_index_cn_llm import CNLLM

RULES = "你是一名严谨的助手，回答前先核对事实。" * 40
LONG_DOC = "缓存的长文档内容。" * 150


def _chat(question: str) -> list[ChatMessage]:
    return [ChatMessage(role="system", content=RULES), ChatMessage(role="user", content=question)]


@pytest.mark.parametrize(
    ("provider", "model"),
    [("deepseek", "deepseek-chat"), ("dashscope", "qwen-plus"), ("moonshot", "kimi-k2")],
)
async def test_cache_read_tokens_in_additional_kwargs(provider: str, model: str) -> None:
    with FakeGateway(mode=provider) as gw:
        llm = CNLLM(model=model, provider=provider, base_url=gw.base_url, api_key=gw.api_key)
        first = llm.chat(_chat("第一个问题"))
        second = await llm.achat(_chat("第二个问题"))
        *_, streamed = llm.stream_chat(_chat("第三个问题"))
        completion = llm.complete("另一个问题")  # no system prompt: nothing cached
        await llm.aclose()
        llm.close()

    assert first.additional_kwargs["cache_read_tokens"] == 0
    cached = second.additional_kwargs["cache_read_tokens"]
    assert 500 < cached < second.additional_kwargs["prompt_tokens"]
    assert streamed.additional_kwargs["cache_read_tokens"] == cached
    assert second.raw["usage"]["cache_read_tokens"] == cached
    assert completion.additional_kwargs["cache_read_tokens"] == 0


def test_deepseek_cost_uses_the_cache_hit_price() -> None:
    with FakeGateway(mode="deepseek") as gw:
        llm = CNLLM(
            model="deepseek-chat", provider="deepseek", base_url=gw.base_url, api_key=gw.api_key
        )
        miss = llm.chat(_chat("问")).additional_kwargs
        hit = llm.chat(_chat("问")).additional_kwargs
        llm.close()
    cached = hit["cache_read_tokens"]
    expected = (
        (hit["prompt_tokens"] - cached) * 0.28 + cached * 0.028 + hit["completion_tokens"] * 0.42
    ) / 1e6
    assert cached > 0 and hit["cost"] == pytest.approx(expected) and hit["cost"] < miss["cost"]


def _marked() -> list[ChatMessage]:
    system = ChatMessage(
        role="system",
        blocks=[TextBlock(text=LONG_DOC), CachePoint(cache_control=CacheControl(type="ephemeral"))],
    )
    return [system, ChatMessage(role="user", content="问题")]


def test_a_cache_point_marks_the_block_before_it_on_dashscope() -> None:
    with FakeGateway(mode="dashscope") as gw:
        llm = CNLLM(
            model="qwen-plus", provider="dashscope", base_url=gw.base_url, api_key=gw.api_key
        )
        created = llm.chat(_marked()).additional_kwargs
        read = llm.chat(_marked()).additional_kwargs
        llm.close()
        sent = gw.requests[0].body["messages"]

    assert sent[0]["content"] == [
        {"type": "text", "text": LONG_DOC, "cache_control": {"type": "ephemeral"}}
    ]
    assert sent[1]["content"] == "问题"
    assert created["cache_write_tokens"] > 1024 and created["cache_read_tokens"] == 0
    assert read["cache_read_tokens"] == created["cache_write_tokens"]


def test_cache_points_are_refused_where_the_provider_has_no_markers() -> None:
    with FakeGateway(mode="deepseek") as gw:
        llm = CNLLM(
            model="deepseek-chat", provider="deepseek", base_url=gw.base_url, api_key=gw.api_key
        )
        with pytest.raises(InvalidRequestError, match="provider=dashscope"):
            llm.chat(_marked())
        leading = ChatMessage(
            role="user", blocks=[CachePoint(cache_control=CacheControl(type="ephemeral"))]
        )
        with pytest.raises(InvalidRequestError, match="after a TextBlock"):
            llm.chat([leading])
        llm.close()
        assert gw.requests == []
