"""ChatCNLLM on server quirks the emulator does not produce, scripted with httpx.MockTransport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessageChunk
from pydantic import SecretStr

from langchain_cn_llm import ChatCNLLM

Chunk = dict[str, Any]


def _sse(chunks: list[Chunk]) -> bytes:
    events = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks)
    return (events + "data: [DONE]\n\n").encode()


def _answer(chunks: list[Chunk]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=_sse(chunks), headers={"content-type": "text/event-stream"}
        )

    return httpx.MockTransport(handler)


def _tool_delta(index: int, call_id: str | None, name: str | None, arguments: str) -> Chunk:
    call: Chunk = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call["function"]["name"] = name
    if call_id is not None:
        call.update(id=call_id, type="function")
    return {"id": "r1", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}


# MiniMax (and GLM through some hosts) repeat the id and the full name on every fragment;
# the second call also reuses index 0, told apart only by its new id.
REPEATING_SERVER = [
    _tool_delta(0, "c1", "get_weather", ""),
    _tool_delta(0, "c1", "get_weather", '{"city": '),
    _tool_delta(0, "c1", "get_weather", '"北京"}'),
    _tool_delta(0, "c2", "get_time", "{}"),
    _tool_delta(0, "c2", "get_time", ""),
    {"id": "r1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"id": "r1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
]
EXPECTED_CALLS = [
    {"name": "get_weather", "args": {"city": "北京"}, "id": "c1", "type": "tool_call"},
    {"name": "get_time", "args": {}, "id": "c2", "type": "tool_call"},
]


def _model(**fields: Any) -> ChatCNLLM:
    return ChatCNLLM(
        model="MiniMax-M2", api_key=SecretStr("k"), base_url="http://127.0.0.1:9/v1", **fields
    )


def test_streamed_tool_calls_with_repeated_names_and_ids_merge_cleanly() -> None:
    model = _model(http_client=httpx.Client(transport=_answer(REPEATING_SERVER)))
    merged = sum(model.stream("天气和时间"), AIMessageChunk(content=""))
    assert merged.tool_calls == EXPECTED_CALLS
    assert merged.usage_metadata is not None and merged.usage_metadata["total_tokens"] == 14


async def test_async_streamed_tool_calls_with_repeated_names_merge_cleanly() -> None:
    client = httpx.AsyncClient(transport=_answer(REPEATING_SERVER))
    model = _model(http_async_client=client)
    merged = AIMessageChunk(content="")
    async for chunk in model.astream("天气和时间"):
        merged += chunk
    assert merged.tool_calls == EXPECTED_CALLS
    await client.aclose()


def test_unknown_constructor_arguments_are_sent_not_dropped() -> None:
    with pytest.warns(UserWarning, match="enable_thinking"):
        model = _model(enable_thinking=True)
    assert model.model_kwargs == {"enable_thinking": True}


def test_max_completion_tokens_is_max_tokens() -> None:
    assert _model(max_completion_tokens=64).max_tokens == 64


@pytest.mark.parametrize("where", ["model_kwargs", "extra_body"])
def test_a_field_inside_model_kwargs_is_refused(where: str) -> None:
    with pytest.raises(ValueError, match="temperature=0.9"):
        _model(temperature=0.1, **{where: {"temperature": 0.9}})


def test_stream_usage_per_call_is_ours_not_the_servers() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, content=_sse(REPEATING_SERVER))

    model = _model(http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    last = list(model.stream("天气", stream_usage=False))[-1]
    assert last.usage_metadata is None and last.chunk_position == "last"
    assert "stream_usage" not in bodies[0]
