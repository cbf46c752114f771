"""web_search=: one option, spelled per provider, against the emulator in each provider's mode."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cn_llm_client import AsyncCNLLMClient, CNLLMClient, InvalidRequestError
from cn_llm_client._payload import build_payload
from cn_llm_client.testing import FakeGateway, Fault

QUESTION = [{"role": "user", "content": "今天北京天气怎么样"}]


@pytest.fixture(scope="module")
def gateways() -> Iterator[dict[str, FakeGateway]]:
    with (
        FakeGateway(mode="dashscope") as dashscope,
        FakeGateway(mode="zhipu") as zhipu,
        FakeGateway(mode="moonshot") as moonshot,
    ):
        yield {"dashscope": dashscope, "zhipu": zhipu, "moonshot": moonshot}


def client_for(gateways: dict[str, FakeGateway], provider: str) -> CNLLMClient:
    gw = gateways[provider]
    gw.reset()
    return CNLLMClient(provider=provider, base_url=gw.base_url, api_key=gw.api_key)


def text(completion: dict) -> str:
    return completion["choices"][0]["message"]["content"]


# --- DashScope: enable_search + search_options -------------------------------------------------


def test_dashscope_body_has_enable_search_and_the_options(gateways: dict) -> None:
    client = client_for(gateways, "dashscope")
    options = {"search_strategy": "max", "forced_search": True, "freshness": 30}
    completion = client.chat("qwen-plus", QUESTION, web_search=options)
    body = gateways["dashscope"].requests[-1].body
    assert body["enable_search"] is True
    assert body["search_options"] == options
    assert "tools" not in body
    assert text(completion) == "[qwen-plus] (web) 收到：今天北京天气怎么样"
    assert "web_search" not in completion  # the compatible API returns no sources


def test_dashscope_true_sends_no_search_options(gateways: dict) -> None:
    client = client_for(gateways, "dashscope")
    client.chat("qwen-plus", QUESTION, web_search=True)
    body = gateways["dashscope"].requests[-1].body
    assert body["enable_search"] is True and "search_options" not in body


def test_web_search_false_sends_nothing(gateways: dict) -> None:
    client = client_for(gateways, "dashscope")
    assert text(client.chat("qwen-plus", QUESTION, web_search=False)).startswith("[qwen-plus] 收到")
    assert "enable_search" not in gateways["dashscope"].requests[-1].body


def test_dashscope_multimodal_search_streams_underneath(gateways: dict) -> None:
    """DashScope: "Non-streaming mode does not support Web Search" for multimodal models."""
    client = client_for(gateways, "dashscope")
    completion = client.chat("qwen3-vl-plus", QUESTION, web_search=True)
    body = gateways["dashscope"].requests[-1].body
    assert body["stream"] is True and body["enable_search"] is True
    assert text(completion) == "[qwen3-vl-plus] (web) 收到：今天北京天气怎么样"


def test_emulator_refuses_non_stream_search_on_multimodal_models(gateways: dict) -> None:
    import httpx

    gw = gateways["dashscope"]
    body = {"model": "qwen3-vl-plus", "messages": QUESTION, "enable_search": True}
    reply = httpx.post(
        f"{gw.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {gw.api_key}"},
    )
    assert reply.status_code == 400
    assert "Non-streaming mode does not support Web Search" in reply.text


def test_dashscope_stream_with_search(gateways: dict) -> None:
    client = client_for(gateways, "dashscope")
    pieces = client.chat_stream("qwen-plus", QUESTION, web_search={"search_strategy": "turbo"})
    assert "".join(pieces) == "[qwen-plus] (web) 收到：今天北京天气怎么样"
    assert gateways["dashscope"].requests[-1].body["search_options"] == {"search_strategy": "turbo"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"search_strategy": "deep"}, "search_strategy must be one of turbo, max"),
        ({"freshness": 3}, "freshness is a number of days"),
        ({"assigned_site_list": [f"s{i}.cn" for i in range(26)]}, "at most 25 sites"),
        ({"assigned_site_list": "baidu.com"}, "assigned_site_list must be a list"),
        ("yes", "web_search must be True, False or a dict"),
    ],
)
def test_bad_search_options_are_refused_before_io(options: object, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        build_payload("qwen-plus", QUESTION, provider="dashscope", web_search=options)


def test_emulator_refuses_a_bad_search_strategy(gateways: dict) -> None:
    import httpx

    gw = gateways["dashscope"]
    body = {
        "model": "qwen-plus",
        "messages": QUESTION,
        "enable_search": True,
        "search_options": {"search_strategy": "deep"},
    }
    reply = httpx.post(
        f"{gw.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {gw.api_key}"},
    )
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "InvalidParameter"


# --- refusals: providers and models without search --------------------------------------------


@pytest.mark.parametrize("provider", ["aisa", "deepseek", "siliconflow", "ollama", "vllm"])
def test_providers_without_search_are_refused_naming_those_with_it(provider: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build_payload("some-model", QUESTION, provider=provider, web_search=True)
    message = str(caught.value)
    assert f"{provider} has no web search" in message
    for name in ("dashscope", "zhipu", "moonshot"):
        assert name in message


def test_refused_before_any_request(fake_gateway: FakeGateway) -> None:
    client = CNLLMClient(base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    with pytest.raises(InvalidRequestError, match="aisa has no web search"):
        client.chat("qwen3-max", QUESTION, web_search=True)
    assert fake_gateway.requests == []


def test_a_translation_model_cannot_search() -> None:
    with pytest.raises(InvalidRequestError, match="qwen-mt-flash cannot search the web"):
        build_payload("qwen-mt-flash", QUESTION, provider="dashscope", web_search=True)


def test_kimi_always_thinking_model_is_refused_and_reasoning_true_too() -> None:
    with pytest.raises(InvalidRequestError, match="always thinks"):
        build_payload("kimi-k2-thinking", QUESTION, provider="moonshot", web_search=True)
    with pytest.raises(InvalidRequestError, match="needs thinking off"):
        build_payload("kimi-k2.5", QUESTION, provider="moonshot", web_search=True, reasoning=True)
    with pytest.raises(InvalidRequestError, match="takes no options"):
        build_payload("kimi-k2", QUESTION, provider="moonshot", web_search={"freshness": 7})


# --- Zhipu: the web_search tool, sources in the completion -------------------------------------


def test_zhipu_web_search_tool_and_sources(gateways: dict) -> None:
    client = client_for(gateways, "zhipu")
    completion = client.chat("glm-4.6", QUESTION, web_search={"search_engine": "search_pro"})
    tools = gateways["zhipu"].requests[-1].body["tools"]
    assert tools == [
        {
            "type": "web_search",
            "web_search": {"enable": True, "search_engine": "search_pro", "search_result": True},
        }
    ]
    assert text(completion) == "[glm-4.6] (web) 收到：今天北京天气怎么样"
    sources = completion["web_search"]
    assert [s["link"] for s in sources] == [
        "https://example.com/search/1",
        "https://example.com/search/2",
    ]


def test_zhipu_search_keeps_the_callers_function_tools(gateways: dict) -> None:
    client = client_for(gateways, "zhipu")
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object"}},
    }
    completion = client.chat("glm-4.6", QUESTION, web_search=True, tools=[tool])
    body = gateways["zhipu"].requests[-1].body
    assert [t["type"] for t in body["tools"]] == ["function", "web_search"]
    assert completion["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_emulator_refuses_search_tool_types_elsewhere(fake_gateway: FakeGateway) -> None:
    import httpx

    body = {
        "model": "qwen3-max",
        "messages": QUESTION,
        "tools": [{"type": "builtin_function", "function": {"name": "$web_search"}}],
    }
    reply = httpx.post(
        f"{fake_gateway.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {fake_gateway.api_key}"},
    )
    assert reply.status_code == 400 and "Invalid tool type" in reply.text


# --- Kimi: the $web_search echo round, run by the client ---------------------------------------


def assert_echo_round(gw: FakeGateway) -> None:
    first, second = (r.body for r in gw.requests)
    builtin = {"type": "builtin_function", "function": {"name": "$web_search"}}
    assert first["tools"] == [builtin] and second["tools"] == [builtin]  # on every request
    assert first["thinking"] == {"type": "disabled"}
    assert first["messages"] == QUESTION
    call = second["messages"][1]["tool_calls"][0]
    assert call["function"]["name"] == "$web_search"
    echo = second["messages"][2]
    assert echo == {
        "role": "tool",
        "tool_call_id": call["id"],
        "name": "$web_search",
        "content": call["function"]["arguments"],  # unchanged
    }


def search_tokens(gw: FakeGateway) -> int:
    arguments = gw.requests[1].body["messages"][1]["tool_calls"][0]["function"]["arguments"]
    return int(json.loads(arguments)["usage"]["total_tokens"])


def test_kimi_one_call_runs_the_echo_round(gateways: dict) -> None:
    gw = gateways["moonshot"]
    client = client_for(gateways, "moonshot")
    completion = client.chat("kimi-k2.5", QUESTION, web_search=True)
    assert len(gw.requests) == 2
    assert_echo_round(gw)
    assert text(completion) == "[kimi-k2.5] (web) 收到：今天北京天气怎么样"
    assert completion["choices"][0]["finish_reason"] == "stop"
    usage = completion["usage"]
    assert usage["searches"] == 1
    assert usage["search_tokens"] == search_tokens(gw) > 0
    # summed over both rounds; the second round's prompt includes the search text
    assert usage["prompt_tokens"] > usage["search_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_kimi_meter_counts_both_rounds(gateways: dict) -> None:
    from cn_llm_client import CostMeter

    gw = gateways["moonshot"]
    gw.reset()
    meter = CostMeter()
    client = CNLLMClient(provider="moonshot", base_url=gw.base_url, api_key=gw.api_key, meter=meter)
    completion = client.chat("kimi-k2", QUESTION, web_search=True)
    assert meter.calls == 2
    assert meter.prompt_tokens == completion["usage"]["prompt_tokens"]


def test_kimi_stream_runs_the_echo_round_and_streams_the_answer(gateways: dict) -> None:
    gw = gateways["moonshot"]
    client = client_for(gateways, "moonshot")
    with client.stream("kimi-k2.5", QUESTION, web_search=True) as stream:
        chunks = list(stream)
    assert_echo_round(gw)
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert not any(d.get("tool_calls") for d in deltas)  # the $web_search call stays inside
    assert "".join(d.get("content") or "" for d in deltas) == text(stream.completion())
    assert text(stream.completion()) == "[kimi-k2.5] (web) 收到：今天北京天气怎么样"
    usage_chunk = [c for c in chunks if c.get("usage")][-1]  # Kimi: in the last choice too
    assert usage_chunk["usage"]["searches"] == 1
    assert stream.completion()["usage"] == usage_chunk["usage"]
    assert stream.completion()["usage"]["search_tokens"] == search_tokens(gw)
    assert (stream.request_id or "").startswith("req_emu_")


def test_kimi_chat_stream_text(gateways: dict) -> None:
    client = client_for(gateways, "moonshot")
    pieces = list(client.chat_stream("kimi-k2", QUESTION, web_search=True))
    assert "".join(pieces) == "[kimi-k2] (web) 收到：今天北京天气怎么样"


def test_kimi_stream_broken_in_the_answer_round_keeps_its_partial(gateways: dict) -> None:
    from cn_llm_client import StreamInterruptedError

    gw = gateways["moonshot"]
    client = client_for(gateways, "moonshot")
    gw.push(Fault.slow(0.0), Fault.cut_stream(after_events=4))  # round 2 (the answer) breaks
    received: list[str] = []
    stream = client.stream("kimi-k2", QUESTION, web_search=True)
    with pytest.raises(StreamInterruptedError) as caught, stream:  # noqa: PT012
        for chunk in stream:
            for choice in chunk.get("choices") or ():
                received.append(choice["delta"].get("content") or "")
    partial = caught.value.partial
    assert partial is not None
    assert "".join(received) == partial["choices"][0]["message"]["content"] != ""


async def test_kimi_async_chat_and_stream(gateways: dict) -> None:
    gw = gateways["moonshot"]
    gw.reset()
    async with AsyncCNLLMClient(provider="moonshot", base_url=gw.base_url, api_key=gw.api_key) as c:
        completion = await c.chat("kimi-k2.5", QUESTION, web_search=True)
        assert_echo_round(gw)
        assert completion["usage"]["searches"] == 1
        gw.reset()
        async with c.stream("kimi-k2.5", QUESTION, web_search=True) as stream:
            pieces = [
                ch["choices"][0]["delta"].get("content") or ""
                async for ch in stream
                if ch.get("choices")
            ]
        assert_echo_round(gw)
        assert "".join(pieces) == "[kimi-k2.5] (web) 收到：今天北京天气怎么样"
        assert stream.completion()["usage"]["search_tokens"] == search_tokens(gw)


def test_kimi_answer_calling_the_callers_function_comes_back(gateways: dict) -> None:
    """A reply that calls the caller's own function is the caller's to answer: no more echo."""
    gw = gateways["moonshot"]
    client = client_for(gateways, "moonshot")
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object"}},
    }
    completion = client.chat("kimi-k2", QUESTION, web_search=True, tools=[tool])
    # the emulator's Kimi searches first; after the echo it calls the caller's tool
    calls = completion["choices"][0]["message"].get("tool_calls") or []
    assert [c["function"]["name"] for c in calls] == ["get_weather"]
    assert len(gw.requests) == 2
    assert [t["type"] for t in gw.requests[-1].body["tools"]] == ["function", "builtin_function"]


def test_search_rounds_sum_every_count_and_the_cost() -> None:
    from cn_llm_client._web_search import SearchRounds

    rounds = SearchRounds(QUESTION)
    call = {"id": "c1", "function": {"name": "$web_search", "arguments": "{}"}}
    first = {
        "choices": [{"message": {"content": "", "tool_calls": [call]}}],
        "usage": {"prompt_tokens": 10, "cache_read_tokens": 4, "cost": 0.5, "details": {"x": 1}},
    }
    assert rounds.next(first)
    final = {
        "choices": [{"message": {"content": "ok"}}],
        "usage": {"prompt_tokens": 30, "cost": 1.0},
    }
    usage = rounds.finish(final)["usage"]
    assert usage["prompt_tokens"] == 40 and usage["cache_read_tokens"] == 4
    assert usage["cost"] == 1.5 and "details" not in usage
    assert usage["searches"] == 1 and usage["search_tokens"] == 0
