"""ChatCNLLM: assistant_prefix as a field and per call, through every way in."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM

ASK = [HumanMessage("Write quick sort in Python")]
FENCE = "```python\n"


def _llm(gw: FakeGateway, provider: str, model: str, **fields: Any) -> ChatCNLLM:
    return ChatCNLLM(
        model=model, provider=provider, base_url=gw.base_url, api_key=gw.api_key, **fields
    )


@pytest.mark.parametrize(
    ("provider", "model", "flag", "path"),
    [
        ("deepseek", "deepseek-chat", "prefix", "/beta/chat/completions"),
        ("moonshot", "kimi-k2", "partial", "/v1/chat/completions"),
        ("dashscope", "qwen-plus", "partial", "/v1/chat/completions"),
    ],
)
async def test_assistant_prefix_invoke_stream_and_async(
    provider: str, model: str, flag: str, path: str
) -> None:
    with FakeGateway(mode=provider) as gw:
        llm = _llm(gw, provider, model, assistant_prefix=FENCE)
        invoked = llm.invoke(ASK)
        streamed = "".join(str(chunk.content) for chunk in llm.stream(ASK))
        awaited = await llm.ainvoke(ASK)
        per_call = _llm(gw, provider, model).invoke(ASK, assistant_prefix="def quick_sort(")
        await llm.aclose()
        requests = gw.requests

    expected = f"[{model}] (after '```python\\n') Write quick sort in Python"
    assert invoked.content == streamed == awaited.content == expected
    assert {r.path for r in requests} == {path}
    assert requests[0].body["messages"][-1] == {"role": "assistant", "content": FENCE, flag: True}
    assert requests[-1].body["messages"][-1]["content"] == "def quick_sort("
    assert per_call.content.startswith(f"[{model}] (after 'def quick_sort(')")


def test_assistant_prefix_on_a_provider_without_it_is_refused_first() -> None:
    with FakeGateway(mode="zhipu") as gw:
        llm = _llm(gw, "zhipu", "glm-4.6", assistant_prefix=FENCE)
        with pytest.raises(InvalidRequestError, match="provider=dashscope or deepseek or moonshot"):
            llm.invoke(ASK)
        assert gw.requests == []
