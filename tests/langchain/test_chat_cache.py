"""ChatCNLLM: cache reads in usage_metadata, cache-hit pricing, DashScope cache markers passed on."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM

RULES = "你是一名严谨的助手，回答前先核对事实。" * 40
LONG_DOC = "缓存的长文档内容。" * 150
MARKER = {"type": "ephemeral"}


def _llm(gw: FakeGateway, provider: str, model: str) -> ChatCNLLM:
    return ChatCNLLM(model=model, provider=provider, base_url=gw.base_url, api_key=gw.api_key)


@pytest.mark.parametrize(
    ("provider", "model"),
    [("deepseek", "deepseek-chat"), ("dashscope", "qwen-plus"), ("moonshot", "kimi-k2")],
)
@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
async def test_cache_read_lands_in_input_token_details(
    provider: str, model: str, stream: bool
) -> None:
    with FakeGateway(mode=provider) as gw:
        llm = _llm(gw, provider, model)
        messages = [SystemMessage(RULES), HumanMessage("第一个问题")]
        first = llm.invoke(messages)
        again = [SystemMessage(RULES), HumanMessage("第二个问题")]
        if stream:
            second: Any = None
            async for chunk in llm.astream(again):
                second = chunk if second is None else second + chunk
        else:
            second = await llm.ainvoke(again)
        await llm.aclose()

    assert first.usage_metadata["input_token_details"]["cache_read"] == 0
    cache_read = second.usage_metadata["input_token_details"]["cache_read"]
    assert 500 < cache_read < second.usage_metadata["input_tokens"]
    assert second.response_metadata["token_usage"]["cache_read_tokens"] == cache_read


def test_deepseek_cost_in_metadata_uses_the_cache_hit_price() -> None:
    with FakeGateway(mode="deepseek") as gw:
        llm = _llm(gw, "deepseek", "deepseek-chat")
        miss = llm.invoke([SystemMessage(RULES), HumanMessage("问")])
        hit = llm.invoke([SystemMessage(RULES), HumanMessage("问")])
        llm.close()
    usage = hit.usage_metadata
    cached = usage["input_token_details"]["cache_read"]
    expected = (
        (usage["input_tokens"] - cached) * 0.28 + cached * 0.028 + usage["output_tokens"] * 0.42
    ) / 1e6
    assert hit.response_metadata["cost"] == pytest.approx(expected)
    assert hit.response_metadata["cost"] < miss.response_metadata["cost"]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "text", "text": LONG_DOC, "cache_control": MARKER},  # ChatAnthropic's spelling
        {"type": "text", "text": LONG_DOC, "extras": {"cache_control": MARKER}},  # v1 blocks
    ],
    ids=["block", "extras"],
)
def test_cache_control_blocks_reach_dashscope(block: dict[str, Any]) -> None:
    with FakeGateway(mode="dashscope") as gw:
        llm = _llm(gw, "dashscope", "qwen-plus")
        messages = [
            SystemMessage([block]),
            HumanMessage(["第一问", {"type": "text", "text": "好"}]),
        ]
        created = llm.invoke(messages)
        read = llm.invoke(messages)
        llm.close()
        sent = gw.requests[0].body["messages"]

    assert sent[0]["content"] == [{"type": "text", "text": LONG_DOC, "cache_control": MARKER}]
    assert sent[1]["content"] == "第一问\n好"  # unmarked messages are converted as before
    assert created.usage_metadata["input_token_details"]["cache_creation"] > 1024
    assert read.usage_metadata["input_token_details"]["cache_read"] > 1024


def test_cache_control_on_a_provider_without_markers_is_refused_first() -> None:
    with FakeGateway(mode="deepseek") as gw:
        llm = _llm(gw, "deepseek", "deepseek-chat")
        block = {"type": "text", "text": LONG_DOC, "cache_control": MARKER}
        with pytest.raises(InvalidRequestError, match="provider=dashscope"):
            llm.invoke([SystemMessage([block]), HumanMessage("问")])
        assert gw.requests == []


def test_cache_control_on_an_ai_message_in_the_history_reaches_dashscope() -> None:
    from langchain_core.messages import AIMessage

    earlier = AIMessage([{"type": "text", "text": LONG_DOC, "cache_control": MARKER}])
    with FakeGateway(mode="dashscope") as gw:
        llm = _llm(gw, "dashscope", "qwen-plus")
        llm.invoke([HumanMessage("总结一下"), earlier, HumanMessage("再短一点")])
        llm.close()
        sent = gw.requests[0].body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": LONG_DOC, "cache_control": MARKER}],
    }
