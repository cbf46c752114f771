"""build_payload / image_part: every validation rule and policy, plus property tests."""

from __future__ import annotations

import base64
import copy
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cn_llm_client._payload import MAX_IMAGE_BYTES, build_payload, image_part, needs_stream
from cn_llm_client.errors import InvalidRequestError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
USER = [{"role": "user", "content": "Hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def bad(match: str, *args: Any, **kwargs: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError, match=match) as info:
        build_payload(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------ basics


def test_the_seed_request_passes_unchanged() -> None:
    messages = [
        {"role": "system", "content": "You are a professional Chinese assistant."},
        {"role": "user", "content": "Please explain what a large language model is?"},
    ]
    body = build_payload("qwen3-max", messages, temperature=0.7, max_tokens=1000)
    assert body == {
        "model": "qwen3-max",
        "messages": messages,
        "temperature": 0.7,
        "max_tokens": 1000,
    }
    assert body["messages"][0] is messages[0]  # nothing copied when nothing changes


def test_stream_asks_for_usage_unless_caller_overrides() -> None:
    body = build_payload("deepseek-v3", USER, stream=True)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    body = build_payload("deepseek-v3", USER, stream=True, stream_options={"include_usage": False})
    assert body["stream_options"] == {"include_usage": False}
    assert "stream" not in build_payload("deepseek-v3", USER)


def test_extra_params_pass_through_and_none_is_dropped() -> None:
    extra = {
        "enable_thinking": False,
        "thinking": {"type": "enabled"},
        "translation_options": {"source_lang": "auto", "target_lang": "French"},
        "response_format": {"type": "json_object"},
        "seed": 7,
        "stop": ["\n"],
        "user": "u1",
        "frequency_penalty": 0.5,
    }
    body = build_payload("some-unknown-model", USER, **extra, top_p=None, max_tokens=None)
    for key, value in extra.items():
        assert body[key] == value
    assert "top_p" not in body and "max_tokens" not in body


@pytest.mark.parametrize("model", ["", "   ", None, 3])
def test_model_must_be_a_string(model: Any) -> None:
    bad("model must be a non-empty string", model, USER)


def test_unknown_provider_is_a_configuration_error() -> None:
    from cn_llm_client.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="dashscope"):
        build_payload("qwen3-max", USER, provider="nope")


# ------------------------------------------------------------------ messages


@pytest.mark.parametrize("messages", [[], None, "hi", {"role": "user", "content": "x"}])
def test_messages_must_be_a_non_empty_list(messages: Any) -> None:
    bad("messages must be a non-empty list", "qwen3-max", messages)


def test_messages_must_be_dicts() -> None:
    bad(r"messages\[1\] must be a dict", "qwen3-max", [USER[0], "hello"])


@pytest.mark.parametrize("role", ["bot", "human", None, "System"])
def test_roles(role: Any) -> None:
    err = bad(r"messages\[0\] has role", "qwen3-max", [{"role": role, "content": "x"}])
    assert "assistant, developer, system, tool, user" in str(err)


def test_all_valid_roles_pass() -> None:
    messages = [
        {"role": "developer", "content": "d"},
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    assert build_payload("unknown", messages)["messages"] == messages


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": None},
        {"role": "user"},
        {"role": "assistant", "content": None},
        {"role": "assistant", "content": None, "tool_calls": []},
    ],
)
def test_content_none_only_for_assistant_with_tool_calls(message: dict[str, Any]) -> None:
    bad("has no content", "qwen3-max", [message])


@pytest.mark.parametrize("content", [3, {"text": "x"}, b"bytes"])
def test_content_type(content: Any) -> None:
    bad("content must be a string or a list", "qwen3-max", [{"role": "user", "content": content}])


def test_tool_message_needs_tool_call_id() -> None:
    bad("without tool_call_id", "qwen3-max", [{"role": "tool", "content": "x"}])
    bad("without tool_call_id", "qwen3-max", [{"role": "tool", "content": "x", "tool_call_id": ""}])


def test_tool_calls_must_be_a_list() -> None:
    bad(
        "tool_calls must be a list",
        "qwen3-max",
        [{"role": "assistant", "content": "x", "tool_calls": {"id": "c"}}],
    )


@pytest.mark.parametrize("part", ["text", {"text": "x"}, {"type": 1}, {"type": "text"}])
def test_content_parts(part: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"content\[0\]"):
        build_payload("qwen3-max", [{"role": "user", "content": [part]}])


def test_unknown_part_types_pass() -> None:
    parts = [{"type": "input_audio", "input_audio": {"data": "...", "format": "wav"}}]
    body = build_payload("qwen3-omni-flash", [{"role": "user", "content": parts}])
    assert body["messages"][0]["content"] is parts


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize("value", [-0.1, 2.01, "0.5", True, float("nan"), float("inf")])
def test_temperature_range(value: Any) -> None:
    bad("temperature must be a number from 0 to 2", "qwen3-max", USER, temperature=value)


@pytest.mark.parametrize("value", [-0.01, 1.5, "1", False])
def test_top_p_range(value: Any) -> None:
    bad("top_p must be a number from 0 to 1", "qwen3-max", USER, top_p=value)


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens", "n"])
@pytest.mark.parametrize("value", [0, -5, 1.5, "10", True])
def test_positive_ints(name: str, value: Any) -> None:
    bad(f"{name} must be a positive integer", "qwen3-max", USER, **{name: value})


def test_bounds_are_inclusive() -> None:
    body = build_payload("qwen3-max", USER, temperature=0, top_p=1, max_tokens=1, n=1)
    assert (body["temperature"], body["top_p"]) == (0, 1)
    assert build_payload("qwen3-max", USER, temperature=2.0)["temperature"] == 2.0


# ------------------------------------------------------------------ tools


def test_tools_pass_through() -> None:
    body = build_payload("qwen3-max", USER, tools=[WEATHER])
    assert body["tools"] == [WEATHER] and "tool_choice" not in body


def test_empty_tools_are_dropped() -> None:
    assert "tools" not in build_payload("qwen3-max", USER, tools=[])


@pytest.mark.parametrize(
    ("tool", "match"),
    [
        ({"type": "function"}, "must be"),
        ({"type": "retrieval", "function": {"name": "x"}}, "must be"),
        ("get_weather", "must be"),
        ({"type": "function", "function": {"name": "has space"}}, "1-64 letters"),
        ({"type": "function", "function": {"name": "x" * 65}}, "1-64 letters"),
        (
            {"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}},
            "JSON schema object",
        ),
        (
            {"type": "function", "function": {"name": "f", "parameters": ["a"]}},
            "JSON schema object",
        ),
    ],
)
def test_tool_shapes(tool: Any, match: str) -> None:
    bad(match, "qwen3-max", USER, tools=[tool])


def test_tools_must_be_a_list_with_unique_names() -> None:
    bad("tools must be a list", "qwen3-max", USER, tools=WEATHER)
    bad("names must be unique", "qwen3-max", USER, tools=[WEATHER, WEATHER])


def test_tool_without_parameters_is_allowed() -> None:
    tool = {"type": "function", "function": {"name": "now"}}
    assert build_payload("qwen3-max", USER, tools=[tool])["tools"] == [tool]


def test_tools_on_a_model_without_tools() -> None:
    bad("does not support tools", "qwen-mt-flash", USER, tools=[WEATHER])


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("any", "required"),
        ("required", "required"),
        (True, "required"),
        (False, "none"),
        ("auto", "auto"),
        ("none", "none"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice_mapping(choice: Any, expected: Any) -> None:
    assert (
        build_payload("qwen3-max", USER, tools=[WEATHER], tool_choice=choice)["tool_choice"]
        == expected
    )


def test_tool_choice_must_name_a_tool() -> None:
    err = bad("not among the tools", "qwen3-max", USER, tools=[WEATHER], tool_choice="get_time")
    assert "get_weather" in str(err)
    bad("tool_choice dict must be", "qwen3-max", USER, tools=[WEATHER], tool_choice={"name": "x"})
    bad("tool_choice must be", "qwen3-max", USER, tools=[WEATHER], tool_choice=3)


def test_tool_choice_without_tools() -> None:
    assert "tool_choice" not in build_payload("qwen3-max", USER, tool_choice="auto")
    bad("needs tools", "qwen3-max", USER, tool_choice="required")


@pytest.mark.parametrize(
    ("model", "provider"),
    [("deepseek-r1", None), ("kimi-k2.5", None), ("glm-4.6", "zhipu"), ("unknown-model", "zhipu")],
)
def test_forced_choice_falls_back_to_auto(
    model: str, provider: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cn_llm_client"):
        body = build_payload(
            model, USER, tools=[WEATHER], tool_choice="get_weather", provider=provider
        )
    assert body["tool_choice"] == "auto"
    assert "forced tool_choice" in caplog.text


def test_forced_choice_kept_where_allowed() -> None:
    assert (
        build_payload("deepseek-v3", USER, tools=[WEATHER], tool_choice="any")["tool_choice"]
        == "required"
    )
    assert (
        build_payload("unknown", USER, tools=[WEATHER], tool_choice="any")["tool_choice"]
        == "required"
    )


# ------------------------------------------------------------------ reasoning echo

TOOL_CALL = [
    {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
]


def history() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "think A",
            "tool_calls": TOOL_CALL,
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny", "reasoning_content": "think B"},
        {"role": "user", "content": "thanks"},
    ]


def reasoning_of(body: dict[str, Any]) -> list[str | None]:
    return [m.get("reasoning_content") for m in body["messages"] if m["role"] == "assistant"]


def test_strip_policy_removes_all_reasoning() -> None:
    messages = history()
    before = copy.deepcopy(messages)
    body = build_payload("deepseek-r1", messages)
    assert reasoning_of(body) == [None, None]
    assert messages == before  # the caller's messages are untouched
    assert body["messages"][0] is messages[0]  # unchanged messages are not copied


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("deepseek-v3.2", None),
        ("kimi-k2.5", None),
        ("kimi-k2-thinking", "moonshot"),
        ("glm-5", None),
        ("unknown-model", None),
    ],
)
def test_keep_with_tool_calls(model: str, provider: str | None) -> None:
    messages = history()
    before = copy.deepcopy(messages)
    body = build_payload(model, messages, provider=provider)
    assert reasoning_of(body) == ["think A", None]
    assert messages == before
    assert body["messages"][1] is messages[1]  # kept as is


@pytest.mark.parametrize(("model", "sent"), [("deepseek-v3.2", ""), ("unknown-model", None)])
def test_tool_call_turn_without_reasoning(model: str, sent: str | None) -> None:
    """DeepSeek thinking mode needs the field on tool-call turns: an empty one for catalog models."""
    messages = history()
    del messages[1]["reasoning_content"]
    body = build_payload(model, messages)
    assert body["messages"][1].get("reasoning_content", None) == sent
    assert "reasoning_content" not in messages[1]  # the caller's message is untouched
    assert "reasoning_content" not in body["messages"][3]  # not on turns without tool calls


# ------------------------------------------------------------------ reasoning switch


@pytest.mark.parametrize(
    ("model", "provider", "reasoning", "expected"),
    [
        ("qwen3-max", None, True, {"enable_thinking": True}),
        ("qwen3-max", None, False, {"enable_thinking": False}),
        ("qwen-plus", "dashscope", 1024, {"enable_thinking": True, "thinking_budget": 1024}),
        ("deepseek-v3.2", None, True, {"thinking": {"type": "enabled"}}),
        ("deepseek-chat", "deepseek", False, {"thinking": {"type": "disabled"}}),
        ("glm-4.6", "zhipu", True, {"thinking": {"type": "enabled"}}),
        ("kimi-k2.5", "moonshot", False, {"thinking": {"type": "disabled"}}),
        ("Qwen/Qwen3-8B", "vllm", False, {"chat_template_kwargs": {"enable_thinking": False}}),
        ("any-local-model", "vllm", True, {"chat_template_kwargs": {"enable_thinking": True}}),
        ("qwen3:8b", "ollama", False, {"reasoning_effort": "none"}),
        (
            "Qwen/Qwen3-235B-A22B",
            "siliconflow",
            512,
            {"enable_thinking": True, "thinking_budget": 512},
        ),
    ],
)
def test_reasoning_translation(
    model: str, provider: str | None, reasoning: Any, expected: dict[str, Any]
) -> None:
    body = build_payload(model, USER, reasoning=reasoning, provider=provider, stream=True)
    assert {k: body[k] for k in expected} == expected


def test_explicit_provider_params_win() -> None:
    body = build_payload("qwen3-max", USER, reasoning=True, enable_thinking=False)
    assert body["enable_thinking"] is False
    body = build_payload("m", USER, provider="vllm", reasoning=True, chat_template_kwargs={"x": 1})
    assert body["chat_template_kwargs"] == {"x": 1, "enable_thinking": True}


def test_always_reasoning_models() -> None:
    assert "thinking" not in build_payload("deepseek-r1", USER, reasoning=True)
    bad("always reasons", "deepseek-r1", USER, reasoning=False)


def test_reasoning_off_on_a_plain_model_is_a_no_op() -> None:
    assert build_payload("deepseek-v3", USER, reasoning=False) == build_payload("deepseek-v3", USER)


def test_reasoning_errors() -> None:
    bad("not a reasoning model", "deepseek-v3", USER, reasoning=True)
    bad("no known thinking switch", "unknown-model", USER, reasoning=True)
    bad("no thinking budget", "deepseek-v3.2", USER, reasoning=2048)
    bad("positive number of tokens", "qwen3-max", USER, reasoning=0)
    bad("True, False or a token budget", "qwen3-max", USER, reasoning="high")


def test_needs_stream() -> None:
    assert needs_stream("qwen3-235b-a22b", provider="dashscope")
    assert needs_stream("qwen3-235b-a22b", provider="dashscope", reasoning=True)
    assert not needs_stream("qwen3-235b-a22b", provider="dashscope", reasoning=False)
    assert not needs_stream("qwen-plus", provider="dashscope")
    assert not needs_stream("Qwen/Qwen3-235B-A22B", provider="siliconflow")
    assert not needs_stream("unknown-model")


def test_needs_stream_whenever_the_body_turns_thinking_on() -> None:
    # DashScope refuses enable_thinking=true outside streams, whatever the model.
    assert needs_stream("qwen-plus", provider="dashscope", reasoning=True)
    assert needs_stream("qwen-plus", provider="dashscope", reasoning=4096)
    assert needs_stream("qwen-plus", provider="dashscope", enable_thinking=True)
    assert needs_stream("some-new-qwen", provider="dashscope", reasoning=True)
    # An explicit enable_thinking wins over reasoning=, as it does in the body.
    assert not needs_stream("qwen3-235b-a22b", provider="dashscope", enable_thinking=False)
    assert not needs_stream(
        "qwen-plus", provider="dashscope", reasoning=True, enable_thinking=False
    )
    assert needs_stream("qwen-plus", provider="dashscope", reasoning=False, enable_thinking=True)
    # AIsa passes DashScope's rule on for models switched by enable_thinking...
    assert needs_stream("qwen3-max", reasoning=True)
    # ...but not for other switches, nor on providers without the rule.
    assert not needs_stream("deepseek-v3.2", reasoning=True)
    assert not needs_stream("Qwen/Qwen3-8B", provider="siliconflow", reasoning=True)
    assert not needs_stream("qwen3:8b", provider="ollama", reasoning=True)


def test_needs_stream_agrees_with_the_body() -> None:
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("qwen-plus", "dashscope", {"reasoning": True}),
        ("qwen-plus", "dashscope", {"reasoning": False}),
        ("qwen-plus", "dashscope", {"enable_thinking": True, "reasoning": False}),
        ("qwen3-max", "aisa", {"reasoning": 1024}),
        ("qwen3-max", "aisa", {}),
    ]
    for model, provider, params in cases:
        body = build_payload(model, USER, provider=provider, **params)
        expected = body.get("enable_thinking") is True
        assert needs_stream(model, provider=provider, **params) is expected, (model, params)


# ------------------------------------------------------------------ model rules


def test_fixed_temperature(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cn_llm_client"):
        body = build_payload("kimi-k2.5", USER, temperature=0.3)
    assert body["temperature"] == 1.0
    assert "accepts only temperature=1" in caplog.text
    assert "temperature" not in build_payload("kimi-k2.5", USER)
    assert build_payload("kimi-k2.5", USER, temperature=1)["temperature"] == 1


def test_translation_model() -> None:
    body = build_payload("qwen-mt-flash", USER)
    assert body["translation_options"] == {"source_lang": "auto", "target_lang": "English"}
    options = {"source_lang": "Chinese", "target_lang": "French"}
    assert (
        build_payload("qwen-mt-lite", USER, translation_options=options)["translation_options"]
        == options
    )
    bad("exactly one user message", "qwen-mt-flash", [{"role": "system", "content": "x"}, *USER])
    bad("exactly one user message", "qwen-mt-flash", USER * 2)


def test_json_mode_and_qwen_thinking_do_not_mix() -> None:
    fmt = {"type": "json_object"}
    bad("cannot be combined with thinking", "qwen3-max", USER, reasoning=True, response_format=fmt)
    bad(
        "cannot be combined",
        "qwen-plus",
        USER,
        provider="dashscope",
        enable_thinking=True,
        response_format=fmt,
    )
    body = build_payload("qwen3-max", USER, reasoning=False, response_format=fmt)
    assert body["enable_thinking"] is False and body["response_format"] == fmt


def test_response_format_rules() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert build_payload("qwen3-max", USER, response_format=schema)["response_format"] == schema
    assert build_payload("unknown", USER, response_format=schema)["response_format"] == schema
    bad("json_schema", "glm-4.6", USER, provider="zhipu", response_format=schema)
    bad("json_schema", "unknown", USER, provider="zhipu", response_format=schema)
    bad("json_schema", "deepseek-v3", USER, response_format=schema)
    bad("no JSON mode", "qwen-mt-flash", USER, response_format={"type": "json_object"})
    body = build_payload("glm-4.6", USER, provider="zhipu", response_format={"type": "json_object"})
    assert body["response_format"] == {"type": "json_object"}


# ------------------------------------------------------------------ images


def vision_message(*parts: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "Describe"}, *parts]}]


def test_url_images_pass_unchanged() -> None:
    messages = vision_message(
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
    )
    body = build_payload("qwen3-vl-plus", messages)
    assert body["messages"][0] is messages[0]


def test_images_refused_for_text_models() -> None:
    messages = vision_message(
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
    )
    err = bad("does not accept images", "qwen3-max", messages)
    assert "qwen3-vl-plus" in str(err)
    assert build_payload("unknown-model", messages)["messages"] == messages


def test_local_path_becomes_data_url(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    messages = vision_message(
        {"type": "image_url", "image_url": {"url": str(path), "detail": "low"}}
    )
    before = copy.deepcopy(messages)
    body = build_payload("qwen3-vl-plus", messages)
    part = body["messages"][0]["content"][1]
    assert part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert part["image_url"]["detail"] == "low"
    assert messages == before
    assert body["messages"][0]["content"][0] is messages[0]["content"][0]


def test_shorthand_image_part(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(JPEG)
    for source in (str(path), path, JPEG):
        body = build_payload("qwen3-vl-flash", vision_message({"type": "image", "image": source}))
        part = body["messages"][0]["content"][1]
        assert part["type"] == "image_url"
        assert part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    body = build_payload(
        "qwen-vl-max", vision_message({"type": "image", "image": "https://x.org/a.png"})
    )
    assert body["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://x.org/a.png"},
    }
    bad('without "image"', "qwen-vl-max", vision_message({"type": "image"}))


def test_bare_string_image_url_is_normalised() -> None:
    body = build_payload(
        "qwen-vl-max", vision_message({"type": "image_url", "image_url": "https://x.org/a.png"})
    )
    assert body["messages"][0]["content"][1]["image_url"] == {"url": "https://x.org/a.png"}
    bad("needs", "qwen-vl-max", vision_message({"type": "image_url", "image_url": {"link": "x"}}))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    err = bad(
        "image file not found",
        "qwen3-vl-plus",
        vision_message({"type": "image", "image": str(tmp_path / "nope.png")}),
    )
    assert "nope.png" in str(err)


def test_image_part_helper(tmp_path: Path) -> None:
    assert image_part("https://a.b/c.png", detail="high") == {
        "type": "image_url",
        "image_url": {"url": "https://a.b/c.png", "detail": "high"},
    }
    data_url = "data:image/png;base64,AAAA"
    assert image_part(data_url)["image_url"]["url"] == data_url
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8 "
    assert image_part(webp)["image_url"]["url"].startswith("data:image/webp;base64,")
    assert image_part(b"GIF89a...")["image_url"]["url"].startswith("data:image/gif;")
    assert image_part(b"????", mime="image/avif")["image_url"]["url"].startswith("data:image/avif;")
    with pytest.raises(InvalidRequestError, match="pass mime="):
        image_part(b"not an image")
    # an unrecognised header falls back to the file extension
    odd = tmp_path / "scan.webp"
    odd.write_bytes(b"????")
    assert image_part(odd)["image_url"]["url"].startswith("data:image/webp;")
    with pytest.raises(InvalidRequestError, match="must be a URL"):
        image_part(42)  # type: ignore[arg-type]


def test_images_over_ten_mib_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\x00" * (8 * 1024 * 1024))  # ~10.7 MiB once base64-encoded
    limit = "over the limit of 10485760 characters"
    with pytest.raises(InvalidRequestError, match=limit) as refused:
        image_part(big)
    assert "resize" in str(refused.value) and "URL" in str(refused.value)
    with pytest.raises(InvalidRequestError, match=limit):
        image_part(PNG + b"\x00" * (8 * 1024 * 1024))
    with pytest.raises(InvalidRequestError, match=limit):
        image_part("data:image/png;base64," + "A" * MAX_IMAGE_BYTES)
    fits = PNG + b"\x00" * (7 * 1024 * 1024)
    assert len(image_part(fits)["image_url"]["url"]) <= MAX_IMAGE_BYTES


# "data:image/png;base64," is 22 characters; base64 turns 3 bytes into 4 characters.
_PNG_FITS = (MAX_IMAGE_BYTES - 22) // 4 * 3  # the largest PNG whose data URL fits


def test_image_cap_is_the_exact_data_url_length(tmp_path: Path) -> None:
    exact = PNG + b"\x00" * (_PNG_FITS - len(PNG))
    url = image_part(exact)["image_url"]["url"]
    assert (
        url.startswith("data:image/png;base64,")
        and MAX_IMAGE_BYTES - 4 < len(url) <= MAX_IMAGE_BYTES
    )
    path = tmp_path / "exact.png"
    path.write_bytes(exact)
    assert image_part(path)["image_url"]["url"] == url
    with pytest.raises(InvalidRequestError, match="10485760"):
        image_part(exact + b"\x00\x00\x00")  # 4 characters more: over by 2
    # a long caller-given MIME type counts too
    with pytest.raises(InvalidRequestError, match="10485760"):
        image_part(exact, mime="image/vnd.microsoft.icon")
    at_limit = "data:image/png;base64," + "A" * (MAX_IMAGE_BYTES - 22)
    assert image_part(at_limit)["image_url"]["url"] is at_limit
    with pytest.raises(InvalidRequestError, match="10485760"):
        image_part(at_limit + "A")


# ------------------------------------------------------------------ properties

roles = st.sampled_from(["system", "user", "assistant", "tool", "developer", "bot", None])
contents = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.integers(),
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=5)}),
            st.fixed_dictionaries(
                {
                    "type": st.just("image_url"),
                    "image_url": st.fixed_dictionaries(
                        {
                            "url": st.sampled_from(
                                ["https://x.org/a.png", "data:image/png;base64,AA", "/no/such.png"]
                            )
                        }
                    ),
                }
            ),
            st.fixed_dictionaries(
                {
                    "type": st.just("image"),
                    "image": st.sampled_from([PNG, b"zz", "https://x.org/a"]),
                }
            ),
            st.dictionaries(st.sampled_from(["type", "text"]), st.text(max_size=3), max_size=2),
            st.text(max_size=3),
        ),
        max_size=3,
    ),
)
messages_st = st.lists(
    st.fixed_dictionaries(
        {"role": roles, "content": contents},
        optional={
            "tool_call_id": st.sampled_from(["c1", "", None]),
            "tool_calls": st.sampled_from([TOOL_CALL, [], None, "x"]),
            "reasoning_content": st.text(max_size=5),
        },
    ),
    max_size=4,
)
numbers = st.one_of(
    st.none(), st.integers(-3, 5), st.floats(allow_nan=True), st.booleans(), st.text(max_size=2)
)
params_st = st.fixed_dictionaries(
    {},
    optional={
        "temperature": numbers,
        "top_p": numbers,
        "max_tokens": numbers,
        "n": numbers,
        "stop": st.text(max_size=3),
        "response_format": st.sampled_from(
            [{"type": "json_object"}, {"type": "json_schema"}, None]
        ),
        "tools": st.sampled_from([None, [], [WEATHER], [{"type": "function"}], "x"]),
        "tool_choice": st.sampled_from(
            [None, "auto", "any", True, False, "get_weather", "nope", 1, {"a": 1}]
        ),
        "reasoning": st.sampled_from([None, True, False, 0, 512, "x"]),
        "provider": st.sampled_from(
            [None, "aisa", "dashscope", "zhipu", "vllm", "ollama", "deepseek"]
        ),
        "stream": st.booleans(),
    },
)
models_st = st.sampled_from(
    [
        "qwen3-max",
        "deepseek-r1",
        "kimi-k2.5",
        "qwen-mt-flash",
        "qwen3-vl-plus",
        "glm-4.6",
        "deepseek-v3.2",
        "unknown-model",
        "qwen3:8b",
    ]
)


@settings(max_examples=300, deadline=None)
@given(model=models_st, messages=messages_st, params=params_st)
@example(model="qwen3-max", messages=[{"role": "user", "content": "hi"}], params={})  # builds
def test_property_valid_payload_or_invalid_request(
    model: str, messages: Any, params: dict[str, Any]
) -> None:
    before = copy.deepcopy(messages)
    try:
        body = build_payload(model, messages, **params)
    except InvalidRequestError as err:
        assert str(err)
    else:
        assert body["model"] == model
        assert isinstance(body["messages"], list) and len(body["messages"]) == len(messages)
        assert all(v is not None for v in body.values())
        for m in body["messages"]:
            assert m["role"] in {"system", "user", "assistant", "tool", "developer"}
            if isinstance(m["content"], list):
                assert all(p["type"] != "image" for p in m["content"])
        if "temperature" in body:
            assert 0 <= body["temperature"] <= 2
    assert messages == before


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=20))
def test_property_plain_text_conversations_pass_untouched(texts: list[str]) -> None:
    roles_cycle = ["user", "assistant"]
    messages = [{"role": roles_cycle[i % 2], "content": t} for i, t in enumerate(texts)]
    body = build_payload("deepseek-v3", messages)
    assert body["messages"] == messages
    assert all(a is b for a, b in zip(body["messages"], messages, strict=True))


@pytest.mark.parametrize(
    "source",
    [
        base64.b64encode(b"\x89PNG\r\n\x1a\n" * 200).decode(),  # base64 without its data: prefix
        "~no-such-user-cn-llm/cat.png",  # expanduser raises RuntimeError on 3.10-3.12
    ],
)
def test_a_string_that_is_no_usable_path_is_a_clear_error(source: str) -> None:
    with pytest.raises(InvalidRequestError, match="image file"):
        image_part(source)


def test_json_mode_turns_default_thinking_off_and_refuses_asked_thinking() -> None:
    """Open Qwen3 thinks unasked and DashScope refuses JSON mode while thinking."""
    ask = [{"role": "user", "content": "Answer in JSON"}]
    json_mode = {"response_format": {"type": "json_object"}}
    default = build_payload("qwen3-235b-a22b", ask, provider="dashscope", **json_mode)
    assert default["enable_thinking"] is False
    assert "enable_thinking" not in build_payload(
        "qwen-plus", ask, provider="dashscope", **json_mode
    )
    with pytest.raises(InvalidRequestError, match="JSON mode cannot be combined with thinking"):
        build_payload("qwen3-235b-a22b", ask, provider="dashscope", reasoning=True, **json_mode)


@pytest.mark.parametrize(
    ("model", "provider", "allowed"),
    [("qwen3-max", None, True), ("deepseek-r1", None, False), ("glm-5", "zhipu", False)],
)
def test_forced_tool_choice_allowed_matches_what_is_sent(
    model: str, provider: str | None, allowed: bool
) -> None:
    from cn_llm_client._payload import forced_tool_choice_allowed

    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ask = [{"role": "user", "content": "hi"}]
    body = build_payload(model, ask, provider=provider, tools=[tool], tool_choice="f")
    assert forced_tool_choice_allowed(model, provider) is allowed
    assert (body["tool_choice"] != "auto") is allowed
