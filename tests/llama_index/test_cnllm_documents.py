"""CNLLM with long documents: a DocumentBlock in the message, or documents= per call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import DocumentBlock, TextBlock
from llama_index.core.llms import ChatMessage

from cn_llm_client import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from llama_index_cn_llm import CNLLM

CONTRACT = "甲方向乙方提供服务，乙方按月付款。".encode()


@pytest.fixture(params=[("dashscope", "qwen-long"), ("moonshot", "kimi-k2")], ids=lambda p: p[0])
def llm(request: pytest.FixtureRequest) -> Iterator[tuple[FakeGateway, CNLLM]]:
    mode, model = request.param
    with FakeGateway(mode=mode) as gw:
        yield gw, CNLLM(model=model, provider=mode, base_url=gw.base_url, api_key=gw.api_key)


def test_document_block_from_a_path(llm: tuple, tmp_path: Path) -> None:
    gw, model = llm
    path = tmp_path / "contract.txt"
    path.write_bytes(CONTRACT)
    message = ChatMessage(role="user", blocks=[TextBlock(text="总结"), DocumentBlock(path=path)])
    reply = model.chat([message])
    assert "(files: contract.txt)" in (reply.message.content or "")
    (stored,) = gw.batches.files.values()
    assert stored.content == CONTRACT and stored.filename == "contract.txt"
    model.chat([message])
    assert len(gw.batches.files) == 1  # uploaded once


def test_document_block_with_data_streams(llm: tuple) -> None:
    gw, model = llm
    block = DocumentBlock(data=CONTRACT, title="contract.txt", document_mimetype="text/plain")
    message = ChatMessage(role="user", blocks=[TextBlock(text="总结"), block])
    responses = list(model.stream_chat([message]))
    assert "(files: contract.txt)" in (responses[-1].message.content or "")


async def test_achat_with_documents_kwarg(llm: tuple) -> None:
    gw, model = llm
    reply = await model.achat(
        [ChatMessage(role="user", content="总结")], documents=[("contract.txt", CONTRACT)]
    )
    assert "(files: contract.txt)" in (reply.message.content or "")
    await model.aclose()


def test_complete_with_documents(llm: tuple) -> None:
    gw, model = llm
    assert "(files: a.txt)" in model.complete("总结", documents=[("a.txt", b"A")]).text


def test_refused_for_a_provider_without_documents(fake_gateway: FakeGateway) -> None:
    model = CNLLM(model="qwen3-max", base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    message = ChatMessage(role="user", blocks=[TextBlock(text="总结"), DocumentBlock(data=b"A")])
    with pytest.raises(InvalidRequestError, match="reads no uploaded documents"):
        model.chat([message])
    assert fake_gateway.requests == []
