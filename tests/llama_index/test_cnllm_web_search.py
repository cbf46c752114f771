"""CNLLM(web_search=...): the field and per-call option; sources and search usage in
additional_kwargs (and raw)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core.llms import ChatMessage

from cn_llm_client import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from llama_index_cn_llm import CNLLM

MODELS = {"dashscope": "qwen-plus", "zhipu": "glm-4.6", "moonshot": "kimi-k2"}
QUESTION = [ChatMessage(role="user", content="今天的新闻")]


@pytest.fixture(params=sorted(MODELS))
def gateway(request: pytest.FixtureRequest) -> Iterator[FakeGateway]:
    with FakeGateway(mode=request.param) as gw:
        yield gw


def make(gw: FakeGateway, **fields: object) -> CNLLM:
    return CNLLM(
        model=MODELS[gw.mode],
        provider=gw.mode,
        base_url=gw.base_url,
        api_key=gw.api_key,
        **fields,  # type: ignore[arg-type]
    )


def searched(gw: FakeGateway) -> bool:
    body = gw.requests[-1].body
    kinds = {t["type"] for t in body.get("tools") or ()}
    return bool(body.get("enable_search")) or bool(kinds & {"web_search", "builtin_function"})


def test_chat_with_the_field(gateway: FakeGateway) -> None:
    response = make(gateway, web_search=True).chat(QUESTION)
    assert searched(gateway)
    assert "(web)" in (response.message.content or "")
    extra = response.additional_kwargs
    if gateway.mode == "zhipu":
        assert extra["web_search"] == response.raw["web_search"]
        assert len(extra["web_search"]) == 2
    if gateway.mode == "moonshot":
        assert len(gateway.requests) == 2
        assert extra["searches"] == 1 and extra["search_tokens"] > 0
        assert extra["prompt_tokens"] == response.raw["usage"]["prompt_tokens"]


def test_per_call_and_complete(gateway: FakeGateway) -> None:
    llm = make(gateway)
    llm.complete("你好")
    assert not searched(gateway)
    assert "(web)" in llm.complete("今天的新闻", web_search=True).text
    assert searched(gateway)


def test_stream_chat(gateway: FakeGateway) -> None:
    responses = list(make(gateway, web_search=True).stream_chat(QUESTION))
    assert searched(gateway)
    assert "(web)" in (responses[-1].message.content or "")
    assert not any(r.message.blocks[-1].block_type == "tool_call" for r in responses)
    if gateway.mode == "moonshot":
        assert responses[-1].additional_kwargs["searches"] == 1


async def test_achat_and_astream_chat(gateway: FakeGateway) -> None:
    llm = make(gateway, web_search=True)
    response = await llm.achat(QUESTION)
    assert "(web)" in (response.message.content or "")
    text = ""
    async for piece in await llm.astream_chat(QUESTION):
        text += piece.delta or ""
    assert "(web)" in text and searched(gateway)
    await llm.aclose()


def test_refused_without_search(fake_gateway: FakeGateway) -> None:
    llm = CNLLM(model="qwen3-max", base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    with pytest.raises(InvalidRequestError, match="has no web search"):
        llm.chat(QUESTION, web_search=True)
    assert fake_gateway.requests == []
