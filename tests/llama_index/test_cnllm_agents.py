"""CNLLM driving LlamaIndex agents, each through a real tool round trip on the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from llama_index.core.agent.workflow import (
    AgentStream,
    AgentWorkflow,
    FunctionAgent,
    ReActAgent,
    ToolCallResult,
)
from llama_index.core.memory import Memory

from cn_llm_client.testing import Fault
from llama_index_cn_llm import CNLLM

MakeLLM = Callable[..., CNLLM]


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"{city}: 晴 25°C"


async def run_streaming(agent: Any, question: str, **run_args: Any) -> tuple[Any, list]:
    handler = agent.run(question, **run_args)
    events = [event async for event in handler.stream_events()]
    return await handler, events


async def test_function_agent(make_llm: MakeLLM, fake_gateway: Any) -> None:
    agent = FunctionAgent(tools=[get_weather], llm=make_llm(), streaming=False)
    response = await agent.run("北京天气怎么样")
    assert "get_weather -> 北京: 晴 25°C" in str(response)
    assert response.tool_calls[0].tool_name == "get_weather"
    assert response.tool_calls[0].tool_kwargs == {"city": "北京"}
    first, second = (r.body for r in fake_gateway.requests)
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert [m["role"] for m in second["messages"]][-2:] == ["assistant", "tool"]
    assert "stream" not in first or not first["stream"]


async def test_function_agent_streaming(make_llm: MakeLLM, fake_gateway: Any) -> None:
    agent = FunctionAgent(tools=[get_weather], llm=make_llm())
    response, events = await run_streaming(agent, "上海天气")
    results = [e for e in events if isinstance(e, ToolCallResult)]
    assert [r.tool_output.content for r in results] == ["上海: 晴 25°C"]
    deltas = "".join(e.delta for e in events if isinstance(e, AgentStream))
    assert deltas == str(response) == "[qwen3-max] Tool results: get_weather -> 上海: 晴 25°C"
    # Tool calls are visible while their arguments stream in (FunctionAgent parses every chunk).
    streamed_calls = [e.tool_calls for e in events if isinstance(e, AgentStream) and e.tool_calls]
    assert streamed_calls and streamed_calls[-1][0].tool_kwargs == {"city": "上海"}
    assert all(r.body["stream"] for r in fake_gateway.requests)


async def test_agent_workflow_from_tools_or_functions(make_llm: MakeLLM) -> None:
    workflow = AgentWorkflow.from_tools_or_functions([get_weather], llm=make_llm("kimi-k2.5"))
    assert isinstance(workflow.agents["Agent"], FunctionAgent)
    response, events = await run_streaming(workflow, "广州天气")
    assert any(isinstance(e, ToolCallResult) for e in events)
    assert "get_weather -> 广州: 晴 25°C" in str(response)


async def test_function_agent_on_deepseek_r1_two_tool_rounds(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    """R1 answers with reasoning; any reasoning_content sent back would be an HTTP 400."""
    agent = FunctionAgent(tools=[get_weather], llm=make_llm("deepseek-r1"))
    memory = Memory.from_defaults(token_limit=40_000)
    first, events = await run_streaming(agent, "北京天气", memory=memory)
    second, _ = await run_streaming(agent, "上海天气", memory=memory)
    assert "get_weather -> 北京: 晴 25°C" in str(first)
    assert "get_weather -> 上海: 晴 25°C" in str(second)
    thinking = "".join(e.thinking_delta or "" for e in events if isinstance(e, AgentStream))
    assert thinking.startswith("思考")
    assert len(fake_gateway.requests) == 4
    last = fake_gateway.requests[-1].body["messages"]
    assert sum(1 for m in last if m.get("tool_calls")) == 2  # both rounds are in the history
    assert not any(
        "reasoning_content" in m for r in fake_gateway.requests for m in r.body["messages"]
    )


async def test_function_agent_on_thinking_deepseek_sends_reasoning_back(
    make_llm: MakeLLM, fake_gateway: Any
) -> None:
    """DeepSeek thinking mode needs reasoning_content back on tool-call turns (else HTTP 400)."""
    agent = FunctionAgent(tools=[get_weather], llm=make_llm("deepseek-v3.2", reasoning=True))
    response = await agent.run("深圳天气")
    assert "get_weather -> 深圳: 晴 25°C" in str(response)
    assistant = [m for m in fake_gateway.requests[-1].body["messages"] if m.get("tool_calls")]
    assert assistant[0]["reasoning_content"].startswith("思考")


def react_step(text: str) -> Fault:
    """One scripted ReAct-format answer (the emulator speaks function calling, not ReAct)."""
    completion = {
        "id": f"chatcmpl-react-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": 0,
        "model": "qwen3-max",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }
    return Fault.status(200, body=completion)


async def test_react_agent_tool_round_trip(make_llm: MakeLLM, fake_gateway: Any) -> None:
    fake_gateway.push(
        react_step(
            'Thought: I need the weather.\nAction: get_weather\nAction Input: {"city": "杭州"}'
        ),
        react_step("Thought: I can answer without using any more tools.\nAnswer: 杭州晴，25°C。"),
    )
    agent = ReActAgent(tools=[get_weather], llm=make_llm(), streaming=False)
    response, events = await run_streaming(agent, "杭州天气")
    assert str(response) == "杭州晴，25°C。"
    results = [e for e in events if isinstance(e, ToolCallResult)]
    assert [r.tool_output.content for r in results] == ["杭州: 晴 25°C"]
    first, second = (r.body for r in fake_gateway.requests)
    assert "tools" not in first and "get_weather" in first["messages"][0]["content"]
    assert "Observation: 杭州: 晴 25°C" in str(second["messages"])


def get_time(city: str) -> str:
    """The local time in a city."""
    return f"{city}: 08:00"


async def test_function_agent_parallel_tool_calls(make_llm: MakeLLM, fake_gateway: Any) -> None:
    agent = FunctionAgent(tools=[get_weather, get_time], llm=make_llm())
    response, events = await run_streaming(agent, "get_weather and get_time for 成都")
    results = sorted(e.tool_name for e in events if isinstance(e, ToolCallResult))
    assert results == ["get_time", "get_weather"]
    assert "get_weather ->" in str(response) and "get_time ->" in str(response)
    assert len(fake_gateway.requests) == 2  # both calls came back in one answer
