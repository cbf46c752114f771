"""ChatCNLLM with long documents: a path per call, or a LangChain file block in the message."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from cn_llm_client import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM

CONTRACT = "甲方向乙方提供服务，乙方按月付款。".encode()


@pytest.fixture(params=[("dashscope", "qwen-long"), ("moonshot", "kimi-k2")], ids=lambda p: p[0])
def chat(request: pytest.FixtureRequest) -> Iterator[tuple[FakeGateway, ChatCNLLM]]:
    mode, model = request.param
    with FakeGateway(mode=mode) as gw:
        yield gw, ChatCNLLM(model=model, provider=mode, base_url=gw.base_url, api_key=gw.api_key)


def test_a_path_per_call(chat: tuple, tmp_path: Path) -> None:
    gw, llm = chat
    path = tmp_path / "contract.txt"
    path.write_bytes(CONTRACT)
    reply = llm.invoke([SystemMessage("你是合同助理。"), HumanMessage("总结")], documents=[path])
    assert "(files: contract.txt)" in reply.text
    messages = gw.requests[-1].body["messages"]
    assert messages[0]["content"] == "你是合同助理。" and messages[1]["role"] == "system"
    llm.invoke("再总结一次", documents=[path])  # uploaded once
    assert len(gw.batches.files) == 1


def test_a_file_block_in_the_message(chat: tuple) -> None:
    gw, llm = chat
    block = {
        "type": "file",
        "base64": base64.b64encode(CONTRACT).decode(),
        "mime_type": "text/plain",
        "filename": "contract.txt",
    }
    message = HumanMessage(content=[{"type": "text", "text": "总结"}, block])
    text = "".join(chunk.text for chunk in llm.stream([message]))
    assert "(files: contract.txt)" in text
    (stored,) = gw.batches.files.values()
    assert stored.content == CONTRACT
    sent = gw.requests[-1].body["messages"]
    assert sent[-1]["content"] == [{"type": "text", "text": "总结"}]  # the block was taken out


async def test_ainvoke_with_a_document(chat: tuple) -> None:
    gw, llm = chat
    reply = await llm.ainvoke("总结", documents=[("contract.txt", CONTRACT)])
    assert "(files: contract.txt)" in reply.text


def test_refused_for_a_model_that_reads_no_files() -> None:
    with FakeGateway(mode="dashscope") as gw:
        llm = ChatCNLLM(
            model="qwen-plus", provider="dashscope", base_url=gw.base_url, api_key=gw.api_key
        )
        with pytest.raises(InvalidRequestError, match="use qwen-long"):
            llm.invoke("总结", documents=[("a.txt", b"A")])
        assert gw.requests == []
