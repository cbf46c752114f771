"""ChatCNLLM(web_search=...): the field and the per-call option reach the core; sources and
search usage come back in response_metadata."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessageChunk

from cn_llm_client import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM


@pytest.fixture(params=["dashscope", "zhipu", "moonshot"])
def gateway(request: pytest.FixtureRequest) -> Iterator[FakeGateway]:
    with FakeGateway(mode=request.param) as gw:
        yield gw


MODELS = {"dashscope": "qwen-plus", "zhipu": "glm-4.6", "moonshot": "kimi-k2.5"}


def make(gw: FakeGateway, **fields: object) -> ChatCNLLM:
    return ChatCNLLM(
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


def test_field_grounds_every_call(gateway: FakeGateway) -> None:
    message = make(gateway, web_search=True).invoke("今天的新闻")
    assert searched(gateway)
    assert "(web)" in message.text
    if gateway.mode == "zhipu":
        assert message.response_metadata["web_search"][0]["link"].startswith("https://")
    else:
        assert "web_search" not in message.response_metadata
    if gateway.mode == "moonshot":
        assert len(gateway.requests) == 2  # the echo round ran in the core
        usage = message.response_metadata["token_usage"]
        assert usage["searches"] == 1 and usage["search_tokens"] > 0
        assert message.usage_metadata is not None
        assert message.usage_metadata["input_tokens"] == usage["prompt_tokens"]


def test_per_call_option(gateway: FakeGateway) -> None:
    llm = make(gateway)
    llm.invoke("你好")
    assert not searched(gateway)
    llm.invoke("今天的新闻", web_search=True)
    assert searched(gateway)


def test_dashscope_options_dict() -> None:
    with FakeGateway(mode="dashscope") as gw:
        llm = make(gw, web_search={"search_strategy": "max", "forced_search": True})
        llm.invoke("今天的新闻")
        body = gw.requests[-1].body
    assert body["search_options"] == {"search_strategy": "max", "forced_search": True}


def test_stream_and_astream(gateway: FakeGateway) -> None:
    import asyncio

    llm = make(gateway, web_search=True)
    chunks = list(llm.stream("今天的新闻"))
    assert searched(gateway)
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    assert isinstance(full, AIMessageChunk)
    assert "(web)" in full.text and not full.tool_call_chunks
    if gateway.mode == "moonshot":
        assert full.response_metadata["token_usage"]["searches"] == 1

    async def collect() -> str:
        text = ""
        async for chunk in llm.astream("今天的新闻"):
            text += chunk.text
        return text

    assert "(web)" in asyncio.run(collect())


async def test_ainvoke(gateway: FakeGateway) -> None:
    message = await make(gateway, web_search=True).ainvoke("今天的新闻")
    assert searched(gateway) and "(web)" in message.text


def test_refused_on_a_provider_without_search(fake_gateway: FakeGateway) -> None:
    llm = ChatCNLLM(model="qwen3-max", base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    with pytest.raises(InvalidRequestError, match="dashscope"):
        llm.invoke("hi", web_search=True)
    assert fake_gateway.requests == []
