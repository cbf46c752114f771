"""batch_chat: LlamaIndex chats through the Batch API, ChatResponses back in order (emulator)."""

from __future__ import annotations

import asyncio
import json

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.prompts import ChatPromptTemplate

from cn_llm_client.errors import CNLLMError, InvalidRequestError
from cn_llm_client.testing import FakeGateway
from llama_index_cn_llm import CNLLM
from llama_index_cn_llm.batch import abatch_chat, batch_chat

FAST = {"poll_interval": 0.005, "max_poll_interval": 0.02}


@pytest.fixture
def gw(batch_gateway: FakeGateway) -> FakeGateway:
    return batch_gateway


def _llm(gw: FakeGateway, **fields: object) -> CNLLM:
    return CNLLM(
        model="qwen-plus", provider="dashscope", api_key=gw.api_key, base_url=gw.base_url, **fields
    )


def test_prompts_and_messages_in_order(gw: FakeGateway) -> None:
    inputs = [
        "你好",
        [
            ChatMessage(role=MessageRole.SYSTEM, content="简短回答"),
            ChatMessage(role=MessageRole.USER, content="再见"),
        ],
    ]
    responses = batch_chat(_llm(gw, temperature=0.3), inputs, **FAST)
    assert all(isinstance(r, ChatResponse) for r in responses)
    texts = [r.message.content for r in responses if isinstance(r, ChatResponse)]
    assert texts == ["[qwen-plus] 收到：你好", "[qwen-plus] 收到：再见"]
    first = responses[0]
    assert isinstance(first, ChatResponse) and first.additional_kwargs["batch"] is True
    assert first.additional_kwargs["cost"] > 0 and first.additional_kwargs["prompt_tokens"] > 0
    (stored,) = [f for f in gw.batches.files.values() if f.purpose == "batch"]
    bodies = [json.loads(line)["body"] for line in stored.content.splitlines()]
    assert bodies[0]["temperature"] == 0.3
    assert bodies[1]["messages"][0] == {"role": "system", "content": "简短回答"}


def test_a_prompt_over_rows_and_errors_in_place(gw: FakeGateway) -> None:
    gw.batches.expire_next()
    prompt = ChatPromptTemplate.from_messages([("system", "只回答类别。"), ("user", "{title}")])
    rows = [{"title": t} for t in ("芯片", "足球", "股市", "电影")]
    responses = batch_chat(_llm(gw), rows, prompt=prompt, **FAST)
    assert [isinstance(r, ChatResponse) for r in responses] == [True, True, False, False]
    assert isinstance(responses[0], ChatResponse)
    assert responses[0].message.content == "[qwen-plus] 收到：芯片"
    assert isinstance(responses[2], CNLLMError) and responses[2].code == "batch_expired"


def test_async_and_refusal(gw: FakeGateway) -> None:
    responses = asyncio.run(abatch_chat(_llm(gw), ["异步"], **FAST))
    assert isinstance(responses[0], ChatResponse)
    assert responses[0].message.content == "[qwen-plus] 收到：异步"
    with pytest.raises(InvalidRequestError, match="no Batch API; providers with one: dashscope"):
        batch_chat(
            CNLLM(model="glm-4.6", provider="zhipu", api_key="k", base_url=gw.base_url), ["x"]
        )
