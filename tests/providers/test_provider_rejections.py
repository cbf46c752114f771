"""What a provider would refuse is avoided before the server, through every surface.

GLM takes only tool_choice="auto"; DashScope's open Qwen3 thinks only in streaming calls; Kimi
K2.5 takes only temperature 1; GLM has no json_schema. The emulator refuses each of these the
way the real server does, so a passing test means the request was fixed (or refused) client-side.
"""

from __future__ import annotations

import logging

import pytest
from provider_surfaces import BOTH_TOOLS, CASE, Case, Surface

from cn_llm_client.errors import InvalidRequestError, ModelNotFoundError
from cn_llm_client.testing import FakeGateway

HELLO = [{"role": "user", "content": "你好"}]


@pytest.mark.parametrize("case", [CASE["zhipu"]], ids=str)
@pytest.mark.parametrize("choice", ["required", "get_weather"])
async def test_glm_forced_tool_choice_becomes_auto(
    case: Case,
    surface: Surface,
    gateway: FakeGateway,
    choice: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="cn_llm_client"):
        first, final = await surface.tool_round(
            "glm-4.6", BOTH_TOOLS, stream=False, tool_choice=choice
        )

    assert gateway.requests[0].body["tool_choice"] == "auto"
    assert [c.name for c in first.calls] == ["get_weather", "get_time"]
    assert final.text.startswith("[glm-4.6] Tool results:")
    assert "sending tool_choice='auto'" in caplog.text


@pytest.mark.parametrize("case", [CASE["dashscope"]], ids=str)
@pytest.mark.parametrize("reasoning", [None, True, 1024], ids=["default", "on", "budget"])
async def test_dashscope_open_qwen3_thinking_streams_underneath(
    case: Case, surface: Surface, gateway: FakeGateway, reasoning: bool | int | None
) -> None:
    # A non-stream call: DashScope would answer "parameter.enable_thinking must be set to false
    # for non-streaming calls"; the client streams and folds instead.
    reply = await surface.chat("qwen3-235b-a22b", HELLO, reasoning=reasoning)

    [request] = gateway.requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert reply.reasoning.startswith("思考：")
    assert reply.text == "[qwen3-235b-a22b] 收到：你好"
    assert reply.usage is not None and reply.usage[2] > 0


@pytest.mark.parametrize("case", [CASE["dashscope"]], ids=str)
async def test_dashscope_open_qwen3_without_thinking_stays_non_stream(
    case: Case, surface: Surface, gateway: FakeGateway
) -> None:
    reply = await surface.chat("qwen3-235b-a22b", HELLO, reasoning=False)

    [request] = gateway.requests
    assert not request.body.get("stream")
    assert request.body["enable_thinking"] is False
    assert reply.reasoning == ""
    assert reply.text == "[qwen3-235b-a22b] 收到：你好"


@pytest.mark.parametrize("case", [CASE["moonshot"], CASE["aisa"]], ids=str)
async def test_kimi_k25_temperature_is_fixed_to_one(
    case: Case, surface: Surface, gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cn_llm_client"):
        reply = await surface.chat("kimi-k2.5", HELLO, temperature=0.3)

    assert gateway.requests[0].body["temperature"] == 1.0
    assert reply.text == "[kimi-k2.5] 收到：你好"
    assert "accepts only temperature=1" in caplog.text


@pytest.mark.parametrize("case", [CASE["zhipu"], CASE["deepseek"], CASE["moonshot"]], ids=str)
async def test_json_schema_refused_before_the_server(
    case: Case, surface: Surface, gateway: FakeGateway
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}

    with pytest.raises(InvalidRequestError, match="json_object"):
        await surface.chat(case.chat_model, HELLO, response_format=response_format)
    assert gateway.requests == []


@pytest.mark.parametrize("case", [CASE["openai-compatible"]], ids=str)
async def test_unknown_model_on_openai_compatible_takes_the_servers_own_switch(
    case: Case, surface: Surface, gateway: FakeGateway
) -> None:
    # No catalog entry, no preset spelling: reasoning= cannot be translated, so it is refused
    # before any I/O, and the server's own parameter passes through untouched.
    with pytest.raises(InvalidRequestError, match="pass the server's own parameter"):
        await surface.chat("my-finetune", HELLO, reasoning=True)
    assert gateway.requests == []

    with pytest.raises(ModelNotFoundError, match="my-finetune"):  # not served here
        await surface.chat("my-finetune", HELLO, chat_template_kwargs={"enable_thinking": True})
    assert gateway.requests[0].body["chat_template_kwargs"] == {"enable_thinking": True}
