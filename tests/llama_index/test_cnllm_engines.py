"""CNLLM inside LlamaIndex's engines: query engines, a chat engine, a response synthesizer over a
long document, and structured output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core import Document, PromptTemplate, VectorStoreIndex, get_response_synthesizer
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import BaseModel

from llama_index_cn_llm import CNLLM

MakeLLM = Callable[..., CNLLM]

FACT = "The AIsa gateway serves Qwen, DeepSeek, GLM, Kimi and MiniMax models."


@pytest.fixture
def index() -> VectorStoreIndex:
    docs = [Document(text=FACT), Document(text="Pandas eat bamboo in Sichuan.")]
    return VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))


def test_query_engine(make_llm: MakeLLM, index: VectorStoreIndex, fake_gateway: Any) -> None:
    engine = index.as_query_engine(llm=make_llm(), similarity_top_k=2)
    response = engine.query("Which models does the gateway serve?")
    # The emulator answers a RAG prompt with the context sentence that answers the question.
    assert str(response) == f"[qwen3-max] {FACT}"
    prompt = fake_gateway.requests[-1].body["messages"][-1]["content"]
    assert FACT in prompt and "Which models does the gateway serve?" in prompt
    assert len(response.source_nodes) == 2
    assert len(fake_gateway.requests) == 1


async def test_query_engine_async(make_llm: MakeLLM, index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(llm=make_llm("deepseek-v3"))
    response = await engine.aquery("Which models does the gateway serve?")
    assert str(response).startswith("[deepseek-v3]") and FACT in str(response)


def test_query_engine_streaming(make_llm: MakeLLM, index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(llm=make_llm(), streaming=True)
    response = engine.query("Which models does the gateway serve?")
    assert isinstance(response, StreamingResponse)
    pieces = list(response.response_gen)
    assert len(pieces) > 5
    assert FACT in "".join(pieces)


async def test_query_engine_async_streaming(make_llm: MakeLLM, index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(llm=make_llm(), streaming=True)
    response = await engine.aquery("Which models does the gateway serve?")
    assert isinstance(response, AsyncStreamingResponse)
    pieces = [piece async for piece in response.async_response_gen()]
    assert FACT in "".join(pieces)


def test_chat_engine_condense_plus_context(
    make_llm: MakeLLM, index: VectorStoreIndex, fake_gateway: Any
) -> None:
    engine = index.as_chat_engine(chat_mode="condense_plus_context", llm=make_llm())
    first = engine.chat("Which models does the gateway serve?")
    assert str(first) == f"[qwen3-max] {FACT}"  # answered from the retrieved context
    assert FACT in fake_gateway.requests[-1].body["messages"][0]["content"]  # context, as system
    second = engine.chat("And which one is best for code?")
    answers = {f"[qwen3-max] {FACT}", "[qwen3-max] Pandas eat bamboo in Sichuan."}
    assert str(second) in answers  # a sentence of the context, not the question echoed
    assert "And which one is best for code?" in str(fake_gateway.requests[-1].body["messages"])
    # Turn two: one request condenses the question, one answers with the history as messages.
    assert len(fake_gateway.requests) == 3
    roles = [m["role"] for m in fake_gateway.requests[-1].body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize(("model", "calls"), [("qwen3-max", 1), ("deepseek-r1", 2)])
def test_synthesizer_packs_a_long_document_by_the_real_context_window(
    make_llm: MakeLLM, fake_gateway: Any, model: str, calls: int
) -> None:
    """About 80k tokens: one call within qwen3-max's 262k window, two within deepseek-r1's 64k.

    With LlamaIndex's 3,900-token default (what OpenAILike assumes) it would take over twenty.
    """
    sentence = "The quick brown fox jumps over the lazy dog. "
    nodes = [NodeWithScore(node=TextNode(text=sentence * 2000), score=1.0) for _ in range(4)]
    llm = make_llm(model, additional_kwargs={"emulator_answer_chars": 40})
    synthesizer = get_response_synthesizer(llm=llm, response_mode="compact")
    response = synthesizer.synthesize("What does the fox do?", nodes=nodes)
    assert len(str(response)) == 40
    assert len(fake_gateway.requests) == calls


class Invoice(BaseModel):
    """An invoice extracted from text."""

    customer: str
    amount: int


PROMPT = PromptTemplate("Extract the invoice from: {text}")


def test_structured_predict_through_function_calling(make_llm: MakeLLM, fake_gateway: Any) -> None:
    invoice = make_llm().structured_predict(Invoice, PROMPT, text="ACME owes 42 yuan")
    assert isinstance(invoice, Invoice) and invoice.amount == 42
    body = fake_gateway.requests[-1].body
    assert body["tools"][0]["function"]["name"] == "Invoice"
    assert body["tool_choice"] == "required"


async def test_structured_predict_on_a_model_that_rejects_forced_tool_choice(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    invoice = await make_llm("deepseek-r1").astructured_predict(
        Invoice, PROMPT, text="ACME owes 42 yuan"
    )
    assert invoice.amount == 42
    assert fake_gateway.requests[-1].body.get("tool_choice") in (None, "auto")


def test_as_structured_llm(make_llm: MakeLLM) -> None:
    structured = make_llm().as_structured_llm(Invoice)
    response = structured.chat([ChatMessage(role="user", content="ACME owes 7 yuan")])
    assert isinstance(response.raw, Invoice) and response.raw.amount == 7


PLAIN_ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ACME owes 42 yuan."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
}


def test_structured_predict_says_the_server_ignored_the_forced_tool_choice(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    """structured_predict already sends tool_choice="required": "pass tool_required" is no help."""
    from cn_llm_client.testing import Fault

    fake_gateway.push(Fault.status(200, body=PLAIN_ANSWER))
    with pytest.raises(ValueError, match="ignored the forced tool choice") as caught:
        make_llm().structured_predict(Invoice, PROMPT, text="ACME owes 42 yuan")
    assert "tool_required=True" not in str(caught.value)
    assert fake_gateway.requests[-1].body["tool_choice"] == "required"


async def test_structured_predict_on_a_model_that_cannot_be_forced_says_so(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    from cn_llm_client.testing import Fault

    fake_gateway.push(Fault.status(200, body=PLAIN_ANSWER))
    with pytest.raises(ValueError, match="cannot be forced to call a tool"):
        await make_llm("deepseek-r1").astructured_predict(Invoice, PROMPT, text="ACME owes 42")


def test_structured_predict_cut_by_max_tokens_is_an_error(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    """The emulator cuts the tool call's arguments at max_tokens: no Invoice from half of them."""
    llm = make_llm(max_tokens=3)
    with pytest.raises(ValueError, match="max_tokens=3"):
        llm.structured_predict(Invoice, PROMPT, text="ACME owes 42 yuan")
    assert fake_gateway.requests[-1].body["max_tokens"] == 3
    with pytest.raises(ValueError, match="max_tokens=3"):
        list(llm.stream_structured_predict(Invoice, PROMPT, text="ACME owes 42 yuan"))
    structured = llm.as_structured_llm(Invoice)
    with pytest.raises(ValueError, match="max_tokens=3"):
        structured.chat([ChatMessage(role="user", content="ACME owes 7 yuan")])
    with pytest.raises(ValueError, match="max_tokens=3"):
        list(structured.stream_chat([ChatMessage(role="user", content="ACME owes 7 yuan")]))


async def test_structured_predict_cut_by_max_tokens_is_an_error_async(make_llm: MakeLLM) -> None:
    llm = make_llm(max_tokens=3)
    with pytest.raises(ValueError, match="max_tokens=3"):
        await llm.astructured_predict(Invoice, PROMPT, text="ACME owes 42 yuan")
    with pytest.raises(ValueError, match="max_tokens=3"):
        objects = await llm.astream_structured_predict(Invoice, PROMPT, text="ACME owes 42 yuan")
        [o async for o in objects]
    structured = llm.as_structured_llm(Invoice)
    with pytest.raises(ValueError, match="max_tokens=3"):
        await structured.achat([ChatMessage(role="user", content="ACME owes 7 yuan")])
