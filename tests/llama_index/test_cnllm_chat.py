"""CNLLM against the offline gateway: chat and completion, sync and async, streaming, usage,
reasoning, images, callbacks, and an event loop that keeps running while a stream waits."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from cn_llm_client.errors import InvalidRequestError, StreamInterruptedError
from cn_llm_client.testing import Fault
from llama_index_cn_llm import CNLLM

MakeLLM = Callable[..., CNLLM]

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens", "cost"}


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def test_chat_sends_native_messages_and_reports_usage(make_llm: MakeLLM, fake_gateway: Any) -> None:
    llm = make_llm(temperature=0.2, max_tokens=200, additional_kwargs={"seed": 7})
    history = [ChatMessage(role="system", content="简短回答"), *user("你好")]
    response = llm.chat(history)
    assert response.message.content == "[qwen3-max] 收到：你好"
    assert response.additional_kwargs.keys() >= USAGE_KEYS
    assert response.additional_kwargs["cost"] > 0
    assert response.raw["usage"]["total_tokens"] == response.additional_kwargs["total_tokens"]
    body = fake_gateway.requests[-1].body
    # Never flattened into one prompt: the system message travels as its own message.
    assert body["messages"] == [
        {"role": "system", "content": "简短回答"},
        {"role": "user", "content": "你好"},
    ]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.2, 200, 7)
    assert "stream" not in body or body["stream"] is False


def test_stream_chat_deltas_add_up_and_usage_arrives(make_llm: MakeLLM, fake_gateway: Any) -> None:
    responses = list(make_llm().stream_chat(user("stream me please")))
    text = "".join(r.delta or "" for r in responses)
    assert text == "[qwen3-max] stream me please" == responses[-1].message.content
    assert len(responses) > 3
    assert responses[-1].additional_kwargs.keys() >= USAGE_KEYS
    assert fake_gateway.requests[-1].body["stream_options"] == {"include_usage": True}


async def test_achat_and_astream_chat(make_llm: MakeLLM) -> None:
    llm = make_llm("deepseek-v3")
    response = await llm.achat(user("hello async"))
    assert response.message.content == "[deepseek-v3] hello async"
    stream = await llm.astream_chat(user("hello stream"))
    pieces = [r async for r in stream]
    assert "".join(r.delta or "" for r in pieces) == "[deepseek-v3] hello stream"
    assert pieces[-1].additional_kwargs.keys() >= USAGE_KEYS


async def test_completion_methods_use_the_chat_endpoint(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    llm = make_llm()
    assert llm.complete("one").text == "[qwen3-max] one"
    assert (await llm.acomplete("two")).text == "[qwen3-max] two"
    assert list(llm.stream_complete("three"))[-1].text == "[qwen3-max] three"
    pieces = [r async for r in await llm.astream_complete("four")]
    assert "".join(r.delta or "" for r in pieces) == "[qwen3-max] four"
    assert {r.path for r in fake_gateway.requests} == {"/v1/chat/completions"}


def test_thinking_block_and_thinking_delta_from_deepseek_r1(make_llm: MakeLLM) -> None:
    llm = make_llm("deepseek-r1")
    message = llm.chat(user("why is the sky blue")).message
    assert isinstance(message.blocks[0], ThinkingBlock)
    assert message.blocks[0].content == "Thinking about: why is the sky blue"
    assert message.content == "[deepseek-r1] why is the sky blue"

    streamed = list(llm.stream_chat(user("why is the sky blue")))
    thinking = "".join(r.additional_kwargs.get("thinking_delta", "") for r in streamed)
    assert thinking == "Thinking about: why is the sky blue"
    final = streamed[-1].message
    assert [type(b) for b in final.blocks] == [ThinkingBlock, TextBlock]
    assert final.blocks[0].content == thinking  # type: ignore[union-attr]


def test_reasoning_is_never_echoed_to_deepseek_r1(make_llm: MakeLLM, fake_gateway: Any) -> None:
    """R1 rejects any reasoning_content in the input (HTTP 400): the catalog says strip it."""
    llm = make_llm("deepseek-r1")
    first = llm.chat(user("第一问"))
    reply = llm.chat([*user("第一问"), first.message, *user("第二问")])
    assert reply.message.content == "[deepseek-r1] 收到：第二问"
    assert all("reasoning_content" not in m for m in fake_gateway.requests[-1].body["messages"])


def test_reasoning_goes_back_with_tool_calls_where_the_model_needs_it(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    """Thinking-mode DeepSeek (v3.2) needs reasoning_content back on tool-call turns."""
    llm = make_llm("deepseek-v3.2", reasoning=True)
    history = [
        *user("北京天气"),
        ChatMessage(
            role="assistant",
            blocks=[
                ThinkingBlock(content="查天气"),
                ToolCallBlock(tool_call_id="c1", tool_name="weather", tool_kwargs={"city": "北京"}),
            ],
        ),
        ChatMessage(role="tool", content="晴", additional_kwargs={"tool_call_id": "c1"}),
    ]
    reply = llm.chat(history)
    assert "weather -> 晴" in (reply.message.content or "")
    assert fake_gateway.requests[-1].body["messages"][1]["reasoning_content"] == "查天气"


@pytest.mark.parametrize(
    "block",
    [
        ImageBlock(url="https://example.com/cat.png"),
        ImageBlock(image=PNG),
    ],
    ids=["url", "bytes"],
)
def test_image_to_a_vision_model(make_llm: MakeLLM, fake_gateway: Any, block: ImageBlock) -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="这是什么"), block])
    reply = make_llm("qwen3-vl-plus").chat([message])
    assert (reply.message.content or "").startswith("[qwen3-vl-plus] 收到：这是什么")
    part = fake_gateway.requests[-1].body["messages"][0]["content"][1]
    assert part["type"] == "image_url"
    assert part["image_url"]["url"].startswith(("https://", "data:image/png;base64,"))


async def test_image_to_a_text_model_is_refused_before_the_request(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="看图"), ImageBlock(image=PNG)])
    llm = make_llm("deepseek-v3")
    with pytest.raises(InvalidRequestError, match="deepseek-v3"):
        llm.chat([message])
    with pytest.raises(InvalidRequestError):
        await llm.achat([message])
    with pytest.raises(InvalidRequestError):
        list(llm.stream_chat([message]))
    assert fake_gateway.requests == []


def test_legacy_callbacks_fire_for_chat_and_stream(make_llm: MakeLLM) -> None:
    debug = LlamaDebugHandler()
    llm = make_llm(callback_manager=CallbackManager([debug]))
    llm.chat(user("a"))
    list(llm.stream_chat(user("b")))
    llm.complete("c")
    pairs = debug.get_event_pairs(CBEventType.LLM)
    assert len(pairs) == 3
    assert all(end.payload for _, end in pairs)


async def test_instrumentation_events_fire_for_async_stream(make_llm: MakeLLM) -> None:
    class Collect(BaseEventHandler):
        seen: list[str] = []

        def handle(self, event: BaseEvent, **kwargs: Any) -> None:
            self.seen.append(event.class_name())

    handler = Collect()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        stream = await make_llm().astream_chat(user("events"))
        async for _ in stream:
            pass
    finally:
        dispatcher.event_handlers.remove(handler)
    assert "LLMChatStartEvent" in handler.seen
    assert "LLMChatInProgressEvent" in handler.seen
    assert "LLMChatEndEvent" in handler.seen


async def test_astream_chat_does_not_block_the_event_loop(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    """While the gateway stalls mid-stream, other tasks on the loop keep running."""
    fake_gateway.push(Fault.stall(1.0, after_events=2))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        stream = await make_llm().astream_chat(user("slow stream"))
        text = "".join([r.delta or "" async for r in stream])
    finally:
        task.cancel()
    assert text == "[qwen3-max] slow stream"
    assert ticks >= 20  # a blocked loop would tick about once over the whole second


async def test_one_pooled_client_per_instance(make_llm: MakeLLM) -> None:
    llm = make_llm()
    await llm.achat(user("a"))
    first_async = llm._async_client()
    await llm.achat(user("b"))
    assert llm._async_client() is first_async  # the core pools per event loop
    llm.chat(user("c"))
    first = llm._sync_client()
    llm.chat(user("d"))
    assert llm._sync_client() is first
    await llm.aclose()
    llm.close()
    assert llm._sync_client() is not first  # closed clients are forgotten
    assert (await llm.achat(user("e"))).message.content  # the loop's pool reopens


async def test_a_broken_stream_keeps_what_arrived(make_llm: MakeLLM, fake_gateway: Any) -> None:
    fake_gateway.push(Fault.cut_stream(after_events=4))
    seen: list[str] = []
    stream = await make_llm().astream_chat(user("please answer at length"))
    with pytest.raises(StreamInterruptedError) as caught:
        async for response in stream:
            seen.append(response.delta or "")
    assert seen and "".join(seen).startswith("[qwen3-max]")
    partial = caught.value.partial
    assert partial is not None
    assert partial["choices"][0]["message"]["content"] == "".join(seen)


async def test_pickles_after_use_without_key_or_connections(
    make_llm: MakeLLM, fake_gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import pickle

    llm = make_llm()
    await llm.achat(user("a"))
    llm.chat(user("b"))
    blob = pickle.dumps(llm)
    assert fake_gateway.api_key.encode() not in blob
    assert "unpickleable" not in caplog.text
    copy = pickle.loads(blob)
    assert copy._clients is not llm._clients and copy._sync_client() is not llm._sync_client()
    assert copy.base_url == llm.base_url


def test_stream_cost_uses_the_providers_prices() -> None:
    """DashScope publishes no qwen3-max price here: no AIsa price may stand in for it."""
    from cn_llm_client.testing import FakeGateway

    with FakeGateway(mode="dashscope") as gw:
        direct = CNLLM(
            model="qwen3-max", provider="dashscope", base_url=gw.base_url, api_key=gw.api_key
        )
        via_aisa = CNLLM(model="qwen3-max", base_url=gw.base_url, api_key=gw.api_key)
        last = list(direct.stream_chat(user("你好")))[-1]
        priced = list(via_aisa.stream_chat(user("你好")))[-1]
    assert last.additional_kwargs["prompt_tokens"] > 0
    assert last.additional_kwargs["cost"] is None
    assert priced.additional_kwargs["cost"] > 0


@pytest.mark.parametrize(("role", "sent"), [("model", "assistant"), ("chatbot", "assistant")])
def test_llama_index_roles_without_an_openai_name_are_mapped(
    make_llm: MakeLLM, fake_gateway: Any, role: str, sent: str
) -> None:
    history = [*user("你好"), ChatMessage(role=role, content="你好！"), *user("再见")]
    make_llm().chat(history)
    assert [m["role"] for m in fake_gateway.requests[-1].body["messages"]] == [
        "user",
        sent,
        "user",
    ]


def test_first_calls_from_many_threads_share_one_client(make_llm: MakeLLM) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    llm = make_llm()
    start = threading.Barrier(8)

    def first_call(_: int) -> int:
        start.wait()  # all eight threads ask for the client at the same moment
        return id(llm._sync_client())

    with ThreadPoolExecutor(8) as pool:
        clients = set(pool.map(first_call, range(8)))
    assert len(clients) == 1
