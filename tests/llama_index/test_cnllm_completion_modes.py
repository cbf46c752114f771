"""CNLLM: complete(prompt, suffix=...) is DeepSeek FIM; assistant_prefix continues a prefix."""

from __future__ import annotations

import pytest
from llama_index.core.llms import ChatMessage

from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from llama_index_cn_llm import CNLLM

BEFORE = "def fib(n):\n    a, b = 0, 1\n"
AFTER = "    return a\n"
FILLED = "    # [deepseek-chat] fills 'a, b = 0, 1' ... 'return a'\n"


async def test_complete_with_suffix_is_fim_sync_async_and_streamed() -> None:
    with FakeGateway(mode="deepseek") as gw:
        llm = CNLLM(
            model="deepseek-chat",
            provider="deepseek",
            base_url=gw.base_url,
            api_key=gw.api_key,
            reasoning=False,  # a chat-only setting: not sent to FIM
        )
        done = llm.complete(BEFORE, suffix=AFTER, max_tokens=64)
        awaited = await llm.acomplete(BEFORE, suffix=AFTER)
        *_, streamed = llm.stream_complete(BEFORE, suffix=AFTER)
        pieces = [r.delta async for r in await llm.astream_complete(BEFORE, suffix=AFTER)]
        chat = llm.complete("Hello")  # without suffix: the chat endpoint, as before
        await llm.aclose()
        llm.close()
        requests = gw.requests

    assert done.text == awaited.text == streamed.text == "".join(pieces) == FILLED
    assert [r.path for r in requests] == ["/beta/completions"] * 4 + ["/v1/chat/completions"]
    assert requests[0].body == {
        "model": "deepseek-chat",
        "prompt": BEFORE,
        "suffix": AFTER,
        "max_tokens": 64,
    }
    assert done.additional_kwargs["prompt_tokens"] > 0 and done.additional_kwargs["cost"] > 0
    assert done.raw["object"] == "text_completion"
    assert chat.text == "[deepseek-chat] Hello"


def test_complete_with_suffix_elsewhere_is_refused_naming_deepseek() -> None:
    with FakeGateway(mode="dashscope") as gw:
        llm = CNLLM(
            model="qwen-plus", provider="dashscope", base_url=gw.base_url, api_key=gw.api_key
        )
        with pytest.raises(InvalidRequestError, match="use provider=deepseek"):
            llm.complete(BEFORE, suffix=AFTER)
        llm.close()
        assert gw.requests == []


@pytest.mark.parametrize(
    ("provider", "model", "flag"),
    [("deepseek", "deepseek-chat", "prefix"), ("moonshot", "kimi-k2", "partial")],
)
async def test_assistant_prefix_on_chat(provider: str, model: str, flag: str) -> None:
    ask = [ChatMessage(role="user", content="Write quick sort")]
    with FakeGateway(mode=provider) as gw:
        llm = CNLLM(
            model=model,
            provider=provider,
            base_url=gw.base_url,
            api_key=gw.api_key,
            assistant_prefix="def ",
        )
        reply = llm.chat(ask)
        *_, last = llm.stream_chat(ask)
        awaited = await llm.achat(ask)
        await llm.aclose()
        llm.close()
        body = gw.requests[0].body

    assert body["messages"][-1] == {"role": "assistant", "content": "def ", flag: True}
    expected = f"[{model}] (after 'def ') Write quick sort"
    assert reply.message.content == last.message.content == awaited.message.content == expected
