"""The offline gateway on its own, driven with plain httpx (never our client)."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
import pydantic
import pytest

from cn_llm_client.testing import FakeGateway, Fault

AUTH = {"Authorization": "Bearer test-key"}
HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "alerts": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["city", "days"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def post(gw: FakeGateway, body: dict[str, Any], headers: dict[str, str] = AUTH) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/chat/completions", json=body, headers=headers, timeout=30)


def chat(gw: FakeGateway, model: str = "qwen3-max", messages: Any = HELLO, **params: Any) -> dict:
    response = post(gw, {"model": model, "messages": messages, **params})
    assert response.status_code == 200, response.text
    return response.json()


def stream_events(gw: FakeGateway, body: dict[str, Any]) -> tuple[list[Any], bytes]:
    """The parsed data payloads ("[DONE]" kept as a string) and the raw bytes of a stream."""
    raw = post(gw, {**body, "stream": True}).content
    events: list[Any] = []
    for block in raw.split(b"\n\n"):
        for line in block.splitlines():
            if line.startswith(b"data: "):
                data = line[6:]
                events.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return events, raw


def fold(events: list[Any]) -> dict[str, Any]:
    """A minimal fold of stream chunks, enough to compare with the non-stream answer."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[str, dict[str, Any]] = {}
    finish = None
    for event in events:
        for choice in event.get("choices", []) if isinstance(event, dict) else []:
            delta = choice["delta"]
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            for call in delta.get("tool_calls", []):
                key = call.get("id") or list(calls)[-1]
                entry = calls.setdefault(key, {"name": "", "arguments": []})
                entry["name"] += call.get("function", {}).get("name", "")
                entry["arguments"].append(call.get("function", {}).get("arguments", ""))
            finish = choice["finish_reason"] or finish
    return {
        "content": "".join(content),
        "reasoning": "".join(reasoning),
        "calls": {k: (v["name"], "".join(v["arguments"])) for k, v in calls.items()},
        "finish": finish,
    }


@pytest.fixture
def gw(fake_gateway: FakeGateway) -> FakeGateway:
    return fake_gateway


# -- plain answers ------------------------------------------------------------------------------


def test_echo_usage_cost_and_headers(gw: FakeGateway) -> None:
    response = post(gw, {"model": "qwen3-max", "messages": HELLO})
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {
        "role": "assistant",
        "content": "[qwen3-max] Hello there",
    }
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert usage["cost"] > 0 and usage["credits_remaining"] < 100
    assert response.headers["x-request-id"].startswith("req_")
    for name in ("Limit-Requests", "Remaining-Requests", "Limit-Tokens", "Reset-Requests"):
        assert int(response.headers[f"X-RateLimit-{name}"]) > 0
    second = chat(gw)
    assert second["usage"]["credits_remaining"] < usage["credits_remaining"]


def test_chinese_input_gets_a_chinese_answer(gw: FakeGateway) -> None:
    data = chat(gw, messages=[{"role": "user", "content": "你好，介绍一下你自己"}])
    assert data["choices"][0]["message"]["content"] == "[qwen3-max] 收到：你好，介绍一下你自己"


def test_max_tokens_cuts_the_answer(gw: FakeGateway) -> None:
    data = chat(gw, messages=[{"role": "user", "content": "word " * 100}], max_tokens=5)
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] <= 5


def test_max_tokens_cuts_json_answers_and_tool_call_arguments(gw: FakeGateway) -> None:
    """Real servers cut JSON and tool calls at max_tokens too; clients must not parse the cut."""
    ask = [{"role": "user", "content": "Answer in JSON: " + "word " * 40}]
    json_mode = chat(gw, messages=ask, response_format={"type": "json_object"}, max_tokens=4)
    assert json_mode["choices"][0]["finish_reason"] == "length"
    cut = json_mode["choices"][0]["message"]["content"]
    assert cut.startswith('{"model"') and len(cut) == 16  # 4 tokens of 4 ASCII characters
    tool = {
        "type": "function",
        "function": {
            "name": "save",
            "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
        },
    }
    called = chat(gw, messages=ask, tools=[tool], max_tokens=3)
    choice = called["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["tool_calls"][0]["function"]["arguments"] == '{"text":"Ans'
    whole = chat(gw, messages=ask, tools=[tool])["choices"][0]
    assert whole["finish_reason"] == "tool_calls"


def test_requests_are_recorded_with_the_key_redacted(gw: FakeGateway) -> None:
    chat(gw)
    (seen,) = gw.requests
    assert (seen.method, seen.path, seen.body["model"]) == (
        "POST",
        "/v1/chat/completions",
        "qwen3-max",
    )
    assert seen.headers["authorization"] == "REDACTED"
    gw.reset()
    assert gw.requests == []


def test_models_lists_the_catalog(gw: FakeGateway) -> None:
    data = httpx.get(f"{gw.base_url}/models", headers=AUTH).json()
    ids = {m["id"] for m in data["data"]}
    assert {"qwen3-max", "deepseek-r1", "deepseek-v3"} <= ids


# -- auth and unknown models ----------------------------------------------------------------------


def test_auth_errors_in_aisa_shape(gw: FakeGateway) -> None:
    missing = post(gw, {"model": "qwen3-max", "messages": HELLO}, headers={})
    wrong = post(gw, {"model": "qwen3-max", "messages": HELLO}, {"Authorization": "Bearer nope"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    error = wrong.json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] == "authentication_error"
    assert error["request_id"] == wrong.headers["x-request-id"]


@pytest.mark.parametrize("options", [{"api_key": None}, {"mode": "ollama", "models": ["qwen3:8b"]}])
def test_keyless_gateways_accept_any_request(options: dict[str, Any]) -> None:
    with FakeGateway(**options) as gw:
        model = options.get("models", ["qwen3-max"])[0]
        assert post(gw, {"model": model, "messages": HELLO}, headers={}).status_code == 200


def test_unknown_model_404_lists_valid_ids() -> None:
    with FakeGateway(mode="deepseek") as gw:
        response = post(gw, {"model": "deepseek-v3", "messages": HELLO})
        assert response.status_code == 404
        message = response.json()["error"]["message"]
        assert "'deepseek-v3'" in message
        assert "deepseek-chat" in message and "deepseek-reasoner" in message
        added = FakeGateway(mode="deepseek", models=["deepseek-v3"])
    with added as gw:
        assert post(gw, {"model": "deepseek-v3", "messages": HELLO}).status_code == 200


def test_unknown_model_is_404_per_mode() -> None:
    with FakeGateway() as gw:
        response = post(gw, {"model": "qwen-nope", "messages": HELLO})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_model"
    with FakeGateway(mode="dashscope") as gw:
        response = post(gw, {"model": "qwen-nope", "messages": HELLO})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "ModelNotFound"


def test_invalid_json_and_missing_fields_are_400(gw: FakeGateway) -> None:
    bad = httpx.post(f"{gw.base_url}/chat/completions", content=b"{nope", headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "json_parse_error"
    missing = post(gw, {"model": "qwen3-max"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing_parameter"
    assert post(gw, {"model": "qwen3-max", "messages": HELLO, "temperature": 3}).status_code == 400


# -- reasoning ------------------------------------------------------------------------------------


def test_reasoning_models_and_switches(gw: FakeGateway) -> None:
    r1 = chat(gw, "deepseek-r1")["choices"][0]["message"]
    assert r1["reasoning_content"] and r1["content"] == "[deepseek-r1] Hello there"
    assert "reasoning_content" not in chat(gw, "qwen3-max")["choices"][0]["message"]
    thinking = chat(gw, "qwen3-max", enable_thinking=True)
    assert thinking["choices"][0]["message"]["reasoning_content"]
    assert thinking["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    typed = chat(gw, "deepseek-v3.2", thinking={"type": "enabled"})
    assert typed["choices"][0]["message"]["reasoning_content"]


def test_each_mode_reads_its_own_thinking_switch() -> None:
    with FakeGateway(mode="vllm") as gw:
        on = {"chat_template_kwargs": {"enable_thinking": True}}
        assert chat(gw, "Qwen/Qwen3-8B", **on)["choices"][0]["message"]["reasoning"]
        ignored = chat(gw, "Qwen/Qwen3-8B", enable_thinking=True)["choices"][0]["message"]
        assert "reasoning" not in ignored and "reasoning_content" not in ignored


@pytest.mark.parametrize(
    ("mode", "model", "switch"),
    [
        ("vllm", "Qwen/Qwen3-8B", {"chat_template_kwargs": {"enable_thinking": True}}),
        ("ollama", "qwen3:8b", {"reasoning_effort": "medium"}),
    ],
)
def test_local_servers_name_reasoning_reasoning(mode: str, model: str, switch: dict) -> None:
    body = {"model": model, "messages": HELLO, **switch}
    with FakeGateway(mode=mode) as gw:
        message = chat(gw, model, HELLO, **switch)["choices"][0]["message"]
        events, _ = stream_events(gw, body)
    deltas = [c["delta"] for e in events if e != "[DONE]" for c in e["choices"]]
    assert message["reasoning"].startswith("Thinking about") and "reasoning_content" not in message
    assert "".join(d.get("reasoning", "") for d in deltas) == message["reasoning"]
    assert not any("reasoning_content" in d for d in deltas)


# -- tools ----------------------------------------------------------------------------------------


def test_tool_call_arguments_follow_the_schema(gw: FakeGateway) -> None:
    text = "Weather in Paris for 3 days?"
    data = chat(gw, messages=[{"role": "user", "content": text}], tools=[WEATHER])
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather" and call["id"]
    args = orjson.loads(call["function"]["arguments"])
    # city is an entity of the prompt, as a model would pass it; other strings take the text.
    assert args == {"city": "Paris", "days": 3, "unit": "celsius", "alerts": True, "tags": [text]}


def test_tool_choice_none_and_named(gw: FakeGateway) -> None:
    tools = [WEATHER, TIME]
    none = chat(gw, tools=tools, tool_choice="none")["choices"][0]["message"]
    assert "tool_calls" not in none and none["content"]
    choice = {"type": "function", "function": {"name": "get_time"}}
    named = chat(gw, tools=tools, tool_choice=choice)["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in named] == ["get_time"]
    unknown = {"type": "function", "function": {"name": "nope"}}
    assert (
        post(
            gw, {"model": "qwen3-max", "messages": HELLO, "tools": tools, "tool_choice": unknown}
        ).status_code
        == 400
    )


def test_parallel_tool_calls_when_the_text_names_several(gw: FakeGateway) -> None:
    messages = [{"role": "user", "content": "call get_weather and get_time"}]
    calls = chat(gw, messages=messages, tools=[WEATHER, TIME])["choices"][0]["message"][
        "tool_calls"
    ]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert len({c["id"] for c in calls}) == 2
    single = chat(gw, messages=messages, tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert len(single["choices"][0]["message"]["tool_calls"]) == 1


def test_answer_after_tool_results_quotes_them(gw: FakeGateway) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny, 21C"},
    ]
    message = chat(gw, messages=messages, tools=[WEATHER])["choices"][0]["message"]
    assert "tool_calls" not in message
    assert "get_weather -> sunny, 21C" in message["content"]


def call_names(message: dict[str, Any]) -> list[str]:
    return [c["function"]["name"] for c in message.get("tool_calls") or []]


def with_results(messages: list[dict[str, Any]], message: dict[str, Any]) -> list[dict[str, Any]]:
    """`messages` + the assistant's tool-call turn + one result per call ("<name> result")."""
    results = [
        {"role": "tool", "tool_call_id": c["id"], "content": f"{c['function']['name']} result"}
        for c in message["tool_calls"]
    ]
    return [*messages, message, *results]


def test_named_tools_one_round_each_without_parallel_calls(gw: FakeGateway) -> None:
    text = "First get_time, then get_weather for Paris"
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    params = {"tools": [WEATHER, TIME], "parallel_tool_calls": False}
    rounds = []
    for _ in range(3):
        message = chat(gw, "deepseek-r1", messages, **params)["choices"][0]["message"]
        message.pop("reasoning_content")  # deepseek-r1 refuses it back
        rounds.append(call_names(message))
        if not message.get("tool_calls"):
            break
        messages = with_results(messages, message)
    assert rounds == [["get_time"], ["get_weather"], []]  # in the order the text names them
    assert message["content"] == (
        "[deepseek-r1] Tool results: get_time -> get_time result; get_weather -> get_weather result"
    )
    again = [*messages, message, {"role": "user", "content": text}]
    next_turn = chat(gw, "deepseek-r1", again, **params)["choices"][0]["message"]
    assert call_names(next_turn) == ["get_time"]  # a new user turn calls them again


def test_named_tools_in_one_parallel_round_then_the_answer(gw: FakeGateway) -> None:
    messages = [{"role": "user", "content": "get_time and get_weather, please"}]
    first = chat(gw, messages=messages, tools=[WEATHER, TIME])["choices"][0]["message"]
    assert call_names(first) == ["get_time", "get_weather"]
    final = chat(gw, messages=with_results(messages, first), tools=[WEATHER, TIME])
    message = final["choices"][0]["message"]
    assert "tool_calls" not in message and final["choices"][0]["finish_reason"] == "stop"
    assert "get_time -> get_time result; get_weather -> get_weather result" in message["content"]


def test_a_tool_is_named_only_by_its_whole_name(gw: FakeGateway) -> None:
    search = {"type": "function", "function": {"name": "search", "parameters": {}}}
    search_web = {"type": "function", "function": {"name": "search_web", "parameters": {}}}
    messages = [{"role": "user", "content": "用search_web查一下"}]
    message = chat(gw, messages=messages, tools=[search, search_web])["choices"][0]["message"]
    assert call_names(message) == ["search_web"]


# -- structured output ------------------------------------------------------------------------------


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0, le=150)
    email: str | None = None
    role: str = pydantic.Field(json_schema_extra={"enum": ["admin", "user"]})
    friends: list[Person] = []


def test_json_object_and_json_schema(gw: FakeGateway) -> None:
    asked = [{"role": "user", "content": "Hello in JSON"}]
    plain = chat(gw, messages=asked, response_format={"type": "json_object"})
    assert orjson.loads(plain["choices"][0]["message"]["content"])["answer"] == "Hello in JSON"
    schema = {"name": "person", "schema": Person.model_json_schema()}
    messages = [{"role": "user", "content": "Ann is 200 years old"}]
    data = chat(
        gw, messages=messages, response_format={"type": "json_schema", "json_schema": schema}
    )
    person = Person.model_validate_json(data["choices"][0]["message"]["content"])
    assert person.age == 150 and person.role == "admin" and len(person.friends) == 1


def test_json_object_with_the_keys_the_text_names(gw: FakeGateway) -> None:
    text = "Tell a joke as JSON with 'setup' and `punchline` keys"
    messages = [{"role": "user", "content": text}]
    content = chat(gw, messages=messages, response_format={"type": "json_object"})["choices"][0][
        "message"
    ]["content"]
    assert orjson.loads(content) == {"setup": f"setup: {text}", "punchline": f"punchline: {text}"}


def test_json_mode_needs_the_word_json_in_the_prompt(gw: FakeGateway) -> None:
    """DeepSeek / DashScope refuse JSON mode when no message mentions JSON; local servers don't."""
    body = {"model": "qwen3-max", "messages": HELLO, "response_format": {"type": "json_object"}}
    refused = post(gw, body)
    assert refused.status_code == 400
    assert "must contain the word 'json'" in refused.json()["error"]["message"]
    system = {"role": "system", "content": "Reply with a Json object."}
    assert post(gw, {**body, "messages": [system, *HELLO]}).status_code == 200
    with FakeGateway(mode="ollama") as local:
        assert post(local, {**body, "model": "qwen3:8b"}).status_code == 200


# -- vision ---------------------------------------------------------------------------------------


def image_message(url: str) -> list[dict[str, Any]]:
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return [{"role": "user", "content": parts}]


def test_images_only_for_vision_models_and_checked(gw: FakeGateway) -> None:
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    seen = chat(gw, "qwen3-vl-plus", image_message(png))["choices"][0]["message"]["content"]
    assert seen == "[qwen3-vl-plus] what is this"  # the image part adds no trailing space
    assert post(gw, {"model": "qwen3-max", "messages": image_message(png)}).status_code == 400
    for url in ("data:text/plain;base64,aGk=", "data:image/png;base64,!!!", "ftp://x/y.png"):
        assert (
            post(gw, {"model": "qwen3-vl-plus", "messages": image_message(url)}).status_code == 400
        )
    huge = "data:image/png;base64," + "A" * (10 * 1024 * 1024)
    response = post(gw, {"model": "qwen3-vl-plus", "messages": image_message(huge)})
    assert response.status_code == 400 and "10485760" in response.json()["error"]["message"]


# -- provider rules ---------------------------------------------------------------------------------


def test_deepseek_reasoning_echo_rules(gw: FakeGateway) -> None:
    echoed = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", "reasoning_content": "thought"},
        {"role": "user", "content": "again"},
    ]
    assert post(gw, {"model": "deepseek-r1", "messages": echoed}).status_code == 400
    call = {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    turn: list[dict[str, Any]] = [
        {"role": "user", "content": "time?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "noon"},
    ]
    body = {"model": "deepseek-v3.2", "messages": turn, "thinking": {"type": "enabled"}}
    response = post(gw, body)
    assert response.status_code == 400
    assert (
        "Missing `reasoning_content` field in the assistant message at message index 1"
        in response.text
    )
    turn[1]["reasoning_content"] = "I need the time"
    assert post(gw, body).status_code == 200


def test_tool_results_must_answer_the_calls_just_before_them(gw: FakeGateway) -> None:
    """As OpenAI and DeepSeek: every call id answered at once, no orphan tool message."""
    call = {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    asked = {"role": "user", "content": "time?"}
    calls = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": "c1", "content": "noon"}
    assert chat(gw, messages=[asked, calls, result], tools=[TIME])["choices"]
    for messages, words in (
        ([asked, result], "must be a response to a preceding message with 'tool_calls'"),
        ([asked, calls], "did not have response messages: c1"),
        ([asked, calls, asked], "did not have response messages: c1"),
        ([asked, calls, {**result, "tool_call_id": "c2"}], "preceding message with 'tool_calls'"),
        ([asked, calls, result, result], "preceding message with 'tool_calls'"),
    ):
        refused = post(gw, {"model": "qwen3-max", "messages": messages, "tools": [TIME]})
        assert refused.status_code == 400 and words in refused.json()["error"]["message"]
    with FakeGateway(mode="vllm") as local:  # a chat template takes any order
        assert chat(local, "Qwen/Qwen3-8B", [asked, result])["choices"]


def test_provider_specific_refusals() -> None:
    with FakeGateway(mode="dashscope") as gw:
        body = {"model": "qwen3-235b-a22b", "messages": HELLO}
        refused = post(gw, body)
        assert refused.status_code == 400
        assert "enable_thinking must be set to false for non-streaming calls" in refused.text
        assert post(gw, {**body, "enable_thinking": False}).status_code == 200
        events, _ = stream_events(gw, body)
        assert fold(events)["reasoning"]
    with FakeGateway(mode="zhipu") as gw:
        forced = {"model": "glm-4.6", "messages": HELLO, "tools": [TIME], "tool_choice": "required"}
        assert post(gw, forced).status_code == 400
        assert post(gw, {**forced, "tool_choice": "auto"}).status_code == 200
    with FakeGateway() as gw:
        body = {"model": "kimi-k2.5", "messages": HELLO}
        assert post(gw, {**body, "temperature": 0.5}).status_code == 400
        assert post(gw, {**body, "temperature": 1}).status_code == 200


@pytest.mark.parametrize(
    ("mode", "path"),
    [
        ("aisa", ("error", "code")),
        ("deepseek", ("error", "message")),
        ("dashscope", ("error", "code")),
        ("zhipu", ("error", "code")),
        ("moonshot", ("error", "type")),
        ("siliconflow", ("code",)),
        ("ollama", ("error", "message")),
        ("vllm", ("message",)),
        ("llamacpp", ("error", "type")),
        ("lmstudio", ("error", "message")),
    ],
)
def test_each_mode_speaks_its_error_shape(mode: str, path: tuple[str, ...]) -> None:
    with FakeGateway(mode=mode) as gw:
        gw.push(Fault.status(429))
        response = post(gw, {"model": "x", "messages": HELLO})
        value: Any = response.json()
        for key in path:
            value = value[key]
        assert response.status_code == 429 and value
    assert FakeGateway(mode="dashscope")._models  # the catalog knows each mode's models


def test_deepseek_mode_reports_cache_tokens_for_a_prefix_seen_before() -> None:
    long_history = [{"role": "system", "content": "rules " * 400}, *HELLO]
    with FakeGateway(mode="deepseek") as gw:
        first = chat(gw, "deepseek-chat", messages=long_history)["usage"]
        usage = chat(gw, "deepseek-chat", messages=long_history)["usage"]
        gw.reset()  # forgets the cache too
        again = chat(gw, "deepseek-chat", messages=long_history)["usage"]
    assert first["prompt_cache_hit_tokens"] == again["prompt_cache_hit_tokens"] == 0
    assert usage["prompt_cache_hit_tokens"] % 64 == 0 and usage["prompt_cache_hit_tokens"] > 0
    assert (
        usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"]
        == usage["prompt_tokens"]
    )
    assert "cost" not in usage


# -- streaming ------------------------------------------------------------------------------------


def test_deepseek_streams_name_the_idle_text_field_null() -> None:
    """Real DeepSeek deltas: {"content": null, "reasoning_content": "..."} and the reverse."""
    body = {"model": "deepseek-reasoner", "messages": HELLO}
    with FakeGateway(mode="deepseek") as gw:
        events, _ = stream_events(gw, body)
    deltas = [e["choices"][0]["delta"] for e in events[:-1] if e["choices"]]
    assert deltas[0] == {"role": "assistant", "content": None, "reasoning_content": ""}
    thinking = [d for d in deltas[1:] if d.get("reasoning_content")]
    talking = [d for d in deltas[1:] if d.get("content")]
    assert thinking and all(d["content"] is None for d in thinking)
    assert talking and all(d["reasoning_content"] is None for d in talking)
    assert fold(events)["content"] == "[deepseek-reasoner] Hello there"


def test_stream_matches_the_non_stream_answer(gw: FakeGateway) -> None:
    body = {"model": "deepseek-r1", "messages": HELLO, "stream_options": {"include_usage": True}}
    events, _ = stream_events(gw, body)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1] == "[DONE]"
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["total_tokens"] > 0
    folded = fold(events)
    message = chat(gw, "deepseek-r1")["choices"][0]["message"]
    assert folded["content"] == message["content"]
    assert folded["reasoning"] == message["reasoning_content"]
    assert folded["finish"] == "stop"
    without_usage, _ = stream_events(gw, {"model": "qwen3-max", "messages": HELLO})
    assert all(e == "[DONE]" or e["choices"] for e in without_usage)


@pytest.mark.parametrize(
    ("mode", "model", "indexes"), [("aisa", "qwen3-max", {0, 1}), ("ollama", "qwen3:8b", {0})]
)
def test_streamed_tool_call_deltas(mode: str, model: str, indexes: set[int]) -> None:
    messages = [{"role": "user", "content": "get_weather and get_time please"}]
    with FakeGateway(mode=mode) as gw:
        events, _ = stream_events(
            gw, {"model": model, "messages": messages, "tools": [WEATHER, TIME]}
        )
        expected = chat(gw, model, messages=messages, tools=[WEATHER, TIME])
    deltas = [
        d
        for e in events
        if e != "[DONE]"
        for c in e["choices"]
        for d in c["delta"].get("tool_calls", [])
    ]
    assert {d["index"] for d in deltas} == indexes
    firsts = [d for d in deltas if "id" in d]
    assert all("name" not in d.get("function", {}) for d in deltas if "id" not in d)
    assert len(firsts) == 2 and len(deltas) > 4
    calls = expected["choices"][0]["message"]["tool_calls"]
    expected_calls = [(c["function"]["name"], c["function"]["arguments"]) for c in calls]
    assert list(fold(events)["calls"].values()) == expected_calls
    assert fold(events)["finish"] == "tool_calls"


def test_chinese_streams_split_utf8_across_writes(gw: FakeGateway) -> None:
    body = {
        "model": "qwen3-max",
        "messages": [{"role": "user", "content": "讲一个故事"}],
        "stream": True,
    }
    with httpx.stream(
        "POST", f"{gw.base_url}/chat/completions", json=body, headers=AUTH
    ) as response:
        pieces = list(response.iter_raw())
    broken = 0
    for piece in pieces:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            broken += 1
    assert broken > 0
    assert "收到".encode() in b"".join(pieces)


def test_long_answer_streams_in_two_character_chunks(gw: FakeGateway) -> None:
    body = {"model": "deepseek-v3", "messages": HELLO, "emulator_answer_chars": 20_000}
    events, _ = stream_events(gw, body)
    content = fold(events)["content"]
    assert len(content) == 20_000
    assert (
        9_000
        <= sum(
            1
            for e in events
            if e != "[DONE]" and e["choices"] and e["choices"][0]["delta"].get("content")
        )
        <= 11_000
    )


# -- faults ---------------------------------------------------------------------------------------


def test_status_faults(gw: FakeGateway) -> None:
    gw.push(
        Fault.status(429, retry_after=2, times=2),
        Fault.status(502, html=True),
        Fault.status(503, empty=True),
        Fault.status(402, body={"error": {"code": "insufficient_balance", "message": "top up"}}),
    )
    body = {"model": "qwen3-max", "messages": HELLO}
    first, second = post(gw, body), post(gw, body)
    assert first.status_code == second.status_code == 429
    assert (
        first.headers["Retry-After"] == "2"
        and first.json()["error"]["code"] == "rate_limit_exceeded"
    )
    html = post(gw, body)
    assert html.status_code == 502 and html.text.startswith("<html>")
    empty = post(gw, body)
    assert empty.status_code == 503 and empty.content == b""
    assert post(gw, body).json()["error"]["message"] == "top up"
    assert post(gw, body).status_code == 200
    assert len(gw.requests) == 6


def test_broken_200_bodies(gw: FakeGateway) -> None:
    gw.push(Fault.non_json_200(), Fault.truncated_json())
    body = {"model": "qwen3-max", "messages": HELLO}
    html = post(gw, body)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    truncated = post(gw, body)
    assert truncated.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(truncated.content)


def test_cut_stream_breaks_the_connection(gw: FakeGateway) -> None:
    gw.push(Fault.cut_stream(after_events=3))
    body = {"model": "qwen3-max", "messages": HELLO, "stream": True}
    received = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", f"{gw.base_url}/chat/completions", json=body, headers=AUTH
        ) as response,
    ):
        for piece in response.iter_raw():
            received.append(piece)
    assert b"".join(received).count(b"data: ") == 3


def test_error_event_malformed_line_and_no_done(gw: FakeGateway) -> None:
    body = {"model": "qwen3-max", "messages": HELLO}
    gw.push(Fault.error_event(after_events=2, code="upstream_error", status=502))
    events, _ = stream_events(gw, body)
    assert len(events) == 3 and events[-1]["error"]["code"] == "upstream_error"
    gw.push(Fault.malformed_line(after_events=1))
    raw = post(gw, {**body, "stream": True}).content
    assert b'data: {"id": "chatcmpl-broken", "choices": [\n\n' in raw and raw.endswith(
        b"data: [DONE]\n\n"
    )
    gw.push(Fault.no_done())
    events, raw = stream_events(gw, body)
    assert "[DONE]" not in events and fold(events)["finish"] == "stop"


def test_keepalive_comments_and_blank_lines(gw: FakeGateway) -> None:
    body = {"model": "qwen3-max", "messages": HELLO}
    gw.push(Fault.keepalive(3, interval=0.01))
    _, raw = stream_events(gw, body)
    assert raw.startswith(b": keep-alive\n\n" * 3 + b"data: ")
    gw.push(Fault.keepalive(2))
    response = post(gw, body)
    assert response.content.startswith(b"\n\n{") and orjson.loads(response.content)["choices"]


def test_stall_and_slow_delay_the_answer(gw: FakeGateway) -> None:
    body = {"model": "qwen3-max", "messages": HELLO}
    gw.push(Fault.stall(0.3, after_events=2), Fault.slow(0.3))
    started = time.monotonic()
    events, _ = stream_events(gw, body)
    assert fold(events)["content"] == "[qwen3-max] Hello there"
    assert post(gw, body).status_code == 200
    assert time.monotonic() - started >= 0.6
    with pytest.raises(httpx.ReadTimeout):
        gw.push(Fault.slow(2))
        httpx.post(f"{gw.base_url}/chat/completions", json=body, headers=AUTH, timeout=0.2)


def test_faults_over_http_and_the_control_endpoints(gw: FakeGateway) -> None:
    control = gw.base_url.removesuffix("/v1") + "/_emulator"
    queued = httpx.post(
        f"{control}/faults",
        json=[{"kind": "status", "http_status": 503}, {"kind": "slow", "seconds": 0}],
    )
    assert queued.json() == {"queued": 2}
    assert httpx.post(f"{control}/faults", json={"kind": "explode"}).status_code == 400
    assert post(gw, {"model": "qwen3-max", "messages": HELLO}).status_code == 503
    httpx.delete(f"{control}/faults")
    assert post(gw, {"model": "qwen3-max", "messages": HELLO}).status_code == 200
    seen = httpx.get(f"{control}/requests").json()
    assert [r["path"] for r in seen] == ["/v1/chat/completions"] * 2
    assert seen[0]["headers"]["authorization"] == "REDACTED"
    httpx.post(f"{control}/reset")
    assert gw.requests == []


# -- load, process, imports ---------------------------------------------------------------------------


async def test_200_concurrent_requests_and_streams() -> None:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    with FakeGateway(latency=0.1) as gw:
        async with httpx.AsyncClient(limits=limits, timeout=60, headers=AUTH) as client:

            async def one(n: int, stream: bool) -> str:
                body = {
                    "model": "qwen3-max",
                    "messages": [{"role": "user", "content": f"n{n}"}],
                    "stream": stream,
                }
                response = await client.post(f"{gw.base_url}/chat/completions", json=body)
                assert response.status_code == 200
                return response.text

            started = time.monotonic()
            texts = await asyncio.gather(*(one(n, n % 2 == 1) for n in range(200)))
            elapsed = time.monotonic() - started
    assert all(f"n{n}" in text for n, text in enumerate(texts))
    assert sum(text.endswith("data: [DONE]\n\n") for text in texts) == 100
    assert elapsed < 30  # generous sanity bound: 200 calls at 100 ms must not run one by one


def open_stream(client: httpx.Client, gw: FakeGateway, key: str = "test-key") -> httpx.Response:
    body = {"model": "qwen3-max", "messages": HELLO, "stream": True}
    headers = {"Authorization": f"Bearer {key}"}
    request = client.build_request(
        "POST", f"{gw.base_url}/chat/completions", json=body, headers=headers
    )
    return client.send(request, stream=True)


def wait_until_idle(gw: FakeGateway) -> None:
    deadline = time.monotonic() + 10
    while gw.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)


def test_in_flight_counts_a_stream_until_its_last_byte(gw: FakeGateway) -> None:
    stats_url = gw.base_url.removesuffix("/v1") + "/_emulator/stats"
    gw.push(Fault.stall(1.0, after_events=1))
    with httpx.Client(timeout=30) as client:
        response = open_stream(client, gw)
        pieces = response.iter_raw()
        next(pieces)  # the first event arrived; the stream now stalls
        assert gw.in_flight == 1
        assert httpx.get(stats_url).json()["in_flight"] == 1
        rest = b"".join(pieces)
        response.close()
    assert rest.endswith(b"data: [DONE]\n\n")
    wait_until_idle(gw)
    (record,) = gw.requests
    assert gw.in_flight == 0 and gw.max_in_flight == 1
    assert record.completed is not None and record.completed - record.arrived >= 1.0
    stats = httpx.get(stats_url).json()
    assert stats == {"in_flight": 0, "max_in_flight": 1, "requests": 1, "max_concurrency": None}
    gw.reset()
    assert gw.max_in_flight == 0 and httpx.get(stats_url).json()["requests"] == 0
    chat(gw)
    gw.max_in_flight = 0  # a plain attribute: callers may also restart the peak themselves
    assert httpx.get(stats_url).json()["max_in_flight"] == 0


async def test_max_in_flight_matches_the_recorded_timings() -> None:
    with FakeGateway(latency=0.5) as gw:
        async with httpx.AsyncClient(timeout=30, headers=AUTH) as client:
            body = {"model": "qwen3-max", "messages": HELLO}
            url = f"{gw.base_url}/chat/completions"
            responses = await asyncio.gather(*(client.post(url, json=body) for _ in range(4)))
        assert all(r.status_code == 200 for r in responses)
        wait_until_idle(gw)
        records = gw.requests
    edges = sorted(
        [(r.arrived, 1) for r in records] + [(r.completed or 0.0, -1) for r in records],
        key=lambda edge: (edge[0], edge[1]),
    )
    overlap = peak = 0
    for _, step in edges:
        overlap += step
        peak = max(peak, overlap)
    assert gw.max_in_flight == peak >= 2  # 4 calls of 500 ms at once overlap
    assert all(r.completed is not None and r.completed >= r.arrived + 0.5 for r in records)


def test_max_concurrency_per_key_answers_429() -> None:
    with FakeGateway(api_key=None, max_concurrency=1) as gw, httpx.Client(timeout=30) as client:
        gw.push(Fault.stall(1.0, after_events=1))
        held = open_stream(client, gw, key="key-a")
        pieces = held.iter_raw()
        next(pieces)  # key-a's one slot is taken by the stalled stream
        refused = post(
            gw, {"model": "qwen3-max", "messages": HELLO}, {"Authorization": "Bearer key-a"}
        )
        other = post(
            gw, {"model": "qwen3-max", "messages": HELLO}, {"Authorization": "Bearer key-b"}
        )
        assert b"".join(pieces).endswith(b"data: [DONE]\n\n")
        held.close()
        wait_until_idle(gw)
        again = post(
            gw, {"model": "qwen3-max", "messages": HELLO}, {"Authorization": "Bearer key-a"}
        )
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert other.status_code == 200 and again.status_code == 200
    with pytest.raises(ValueError, match="max_concurrency"):
        FakeGateway(max_concurrency=0)


def test_stop_cancels_a_stalled_stream_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    gw = FakeGateway().start()
    gw.push(Fault.stall(60, after_events=1))
    with caplog.at_level(logging.ERROR, logger="asyncio"), httpx.Client(timeout=30) as client:
        response = open_stream(client, gw)
        next(response.iter_raw())
        started = time.monotonic()
        gw.stop()
        stopped_in = time.monotonic() - started
        response.close()
        gc.collect()
    assert stopped_in < 10  # not the 60 s stall
    assert gw.in_flight == 0  # the handler was cancelled and ran to its end
    assert "Task was destroyed" not in caplog.text


def test_runs_in_its_own_process() -> None:
    command = [sys.executable, "-m", "cn_llm_client.testing", "--port", "0", "--mode", "deepseek"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        body = {"model": "deepseek-chat", "messages": HELLO}
        response = httpx.post(f"{base_url}/chat/completions", json=body, headers=AUTH)
        assert response.json()["usage"]["prompt_cache_miss_tokens"] > 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_importing_the_package_does_not_load_the_server() -> None:
    code = (
        "import sys, cn_llm_client, cn_llm_client.testing.pytest_plugin;"
        "print('aiohttp.web' in sys.modules, 'cn_llm_client.testing.gateway' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.split() == ["False", "False"]


def test_bad_mode_and_bad_fault_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        FakeGateway(mode="openai")
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")


def test_session_gateway_is_shared(fake_gateway_session: FakeGateway) -> None:
    fake_gateway_session.reset()
    chat(fake_gateway_session)
    assert len(fake_gateway_session.requests) == 1


def test_ollama_reads_reasoning_effort_none_as_off() -> None:
    with FakeGateway(mode="ollama") as gw:
        on = chat(gw, "qwen3:8b", reasoning_effort="high")["choices"][0]["message"]
        off = chat(gw, "qwen3:8b", reasoning_effort="none")["choices"][0]["message"]
    assert on.get("reasoning")
    assert "reasoning" not in off and "reasoning_content" not in off


def test_numeric_tool_arguments_take_the_numbers_in_order() -> None:
    from cn_llm_client.testing._schema import schema_instance

    pair = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}
    assert schema_instance(pair, "算一下 12.5 乘以 8") == {"a": 12.5, "b": 8.0}
    assert schema_instance(pair, "square 3") == {"a": 3.0, "b": 3.0}  # the last number repeats
    assert schema_instance(pair, "no numbers") == {"a": 1.0, "b": 1.0}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"temperature": True}, "temperature must be between"),
        ({"max_tokens": True}, "max_tokens must be a positive integer"),
        ({"stream_options": {"include_usage": True}}, "only allowed when 'stream' is enabled"),
    ],
)
def test_wire_types_a_real_server_refuses(extra: dict, words: str) -> None:
    with FakeGateway() as gw:
        response = httpx.post(
            f"{gw.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {gw.api_key}"},
            json={"model": "qwen3-max", "messages": HELLO, **extra},
        )
    assert response.status_code == 400 and words in response.text


def test_tool_call_arguments_must_be_json_text() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    with FakeGateway() as gw:
        response = httpx.post(
            f"{gw.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {gw.api_key}"},
            json={"model": "qwen3-max", "messages": messages},
        )
    assert response.status_code == 400 and "expected a string" in response.text


@pytest.mark.parametrize("mode", ["llamacpp", "lmstudio"])
def test_single_model_local_servers_keep_their_quirks(mode: str) -> None:
    tools = [WEATHER, TIME]
    ask = [{"role": "user", "content": "get_weather and get_time in Beijing for 2 days"}]
    with FakeGateway(mode=mode) as gw:
        # Any model name is served by the loaded model, which names itself in the response.
        reply = chat(gw, "whatever-you-call-it")
        assert reply["choices"][0]["message"]["content"] == "[whatever-you-call-it] Hello there"
        assert reply["model"] != "whatever-you-call-it" and reply["usage"]["total_tokens"] > 0
        # Streams carry no usage chunk, even when asked for one.
        body = {"model": "m", "messages": HELLO, "stream_options": {"include_usage": True}}
        events, _ = stream_events(gw, body)
        assert not any(isinstance(e, dict) and e.get("usage") for e in events)
        # Every tool-call fragment repeats the call's name.
        events, _ = stream_events(gw, {"model": "m", "messages": ask, "tools": tools})
        fragments = [
            call
            for e in events
            if isinstance(e, dict) and e["choices"]
            for call in e["choices"][0]["delta"].get("tool_calls") or []
        ]
        assert len(fragments) > 4
        assert all(f["function"].get("name") in ("get_weather", "get_time") for f in fragments)
        assert {f["index"] for f in fragments} == {0, 1}
        # tool_choice "required" is refused; a client must send "auto".
        refused = post(
            gw, {"model": "m", "messages": ask, "tools": tools, "tool_choice": "required"}
        )
        assert refused.status_code == 400 and "not supported" in refused.text
