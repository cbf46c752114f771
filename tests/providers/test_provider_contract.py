"""The contract every provider preset keeps, through every surface, against its emulator mode.

Runs over (preset x surface): plain chat, streaming with usage, a parallel tool-call round trip
(stream and not; local servers reuse index 0), reasoning on and off in the provider's spelling,
and the provider's error shapes mapped to the right error classes.
"""

from __future__ import annotations

import pytest
from provider_surfaces import (
    BOTH_TOOLS,
    CASE,
    CASES,
    NAMED_MODELS,
    SWITCHED,
    Case,
    Surface,
    dig,
    tool_result,
)

from cn_llm_client.errors import AuthenticationError, InvalidRequestError, ModelNotFoundError
from cn_llm_client.testing import FakeGateway, Fault

HELLO = [{"role": "user", "content": "你好，介绍一下你自己"}]


async def test_plain_chat(case: Case, surface: Surface, gateway: FakeGateway) -> None:
    reply = await surface.chat(case.chat_model, HELLO)

    assert reply.text == f"[{case.chat_model}] 收到：你好，介绍一下你自己"
    assert reply.usage is not None and reply.usage[0] > 0 and reply.usage[1] > 0
    assert reply.usage[2] == reply.usage[0] + reply.usage[1]
    [request] = gateway.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == case.chat_model
    assert not request.body.get("stream")
    assert dig(request.body, case.switch) is None  # no thinking switch unless asked


async def test_stream_with_usage(case: Case, surface: Surface, gateway: FakeGateway) -> None:
    whole = await surface.chat(case.chat_model, HELLO)
    streamed = await surface.stream(case.chat_model, HELLO)

    assert streamed.text == whole.text
    if case.stream_usage:
        assert streamed.usage == whole.usage  # the usage chunk arrived and was read
    else:  # llama.cpp, LM Studio: asked for, never sent; nothing is made up
        assert streamed.usage is None and whole.usage is not None
    body = gateway.requests[-1].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
async def test_parallel_tool_round_trip(
    case: Case, surface: Surface, gateway: FakeGateway, stream: bool
) -> None:
    first, final = await surface.tool_round(case.chat_model, BOTH_TOOLS, stream=stream)

    # Two distinct calls, even from local servers that stream both under index 0.
    assert [c.name for c in first.calls] == ["get_weather", "get_time"]
    assert len({c.id for c in first.calls}) == 2
    assert all(c.args == {"city": "Beijing"} for c in first.calls)  # the city the prompt names
    assert first.text == ""
    # The results went back matched to their calls, and the model read both.
    sent = gateway.requests[-1].body["messages"]
    assert [(m["tool_call_id"], m["content"]) for m in sent if m["role"] == "tool"] == [
        (c.id, tool_result(c)) for c in first.calls
    ]
    assert [c["id"] for c in sent[1]["tool_calls"]] == [c.id for c in first.calls]
    expected = "; ".join(f"{c.name} -> {tool_result(c)}" for c in first.calls)
    assert final.text == f"[{case.chat_model}] Tool results: {expected}"
    assert final.calls == []


@pytest.mark.parametrize("case", SWITCHED, ids=str)
@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
async def test_reasoning_on(
    case: Case, surface: Surface, gateway: FakeGateway, stream: bool
) -> None:
    ask = surface.stream if stream else surface.chat
    reply = await ask(case.think_model, HELLO, reasoning=True)

    body = gateway.requests[-1].body
    assert dig(body, case.switch) == case.on, body
    assert reply.reasoning.startswith("思考：")  # the server understood the spelling
    assert reply.text == f"[{case.think_model}] 收到：你好，介绍一下你自己"


@pytest.mark.parametrize("case", SWITCHED, ids=str)
async def test_reasoning_off(case: Case, surface: Surface, gateway: FakeGateway) -> None:
    reply = await surface.chat(case.think_model, HELLO, reasoning=False)

    body = gateway.requests[-1].body
    assert dig(body, case.switch) == case.off, body
    assert reply.reasoning == ""
    assert reply.text.startswith(f"[{case.think_model}]")


async def test_401_is_authentication_error(
    case: Case, surface: Surface, gateway: FakeGateway
) -> None:
    gateway.push(Fault.status(401))
    with pytest.raises(AuthenticationError) as caught:
        await surface.chat(case.chat_model, HELLO)

    assert caught.value.status_code == 401
    assert "Emulated error 401" in caught.value.message  # read from the provider's error shape
    assert len(gateway.requests) == 1  # never retried


@pytest.mark.parametrize("case", [CASE["lmstudio"]], ids=str)
async def test_no_thinking_switch_refuses_reasoning_before_the_server(
    case: Case, surface: Surface, gateway: FakeGateway
) -> None:
    with pytest.raises(InvalidRequestError, match="no known thinking switch"):
        await surface.chat(case.chat_model, HELLO, reasoning=True)
    assert gateway.requests == []


@pytest.mark.parametrize("case", [c for c in CASES if c.serves_any_model], ids=str)
async def test_single_model_server_answers_any_model_name(
    case: Case, surface: Surface, gateway: FakeGateway
) -> None:
    reply = await surface.chat("no-such-model", HELLO)  # the loaded model answers instead

    assert reply.text == "[no-such-model] 收到：你好，介绍一下你自己"
    assert gateway.requests[0].body["model"] == "no-such-model"


@pytest.mark.parametrize("case", NAMED_MODELS, ids=str)
async def test_404_is_model_not_found(case: Case, surface: Surface, gateway: FakeGateway) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        await surface.chat("no-such-model", HELLO)

    assert caught.value.status_code == 404
    assert "no-such-model" in caught.value.message
    assert len(gateway.requests) == 1
