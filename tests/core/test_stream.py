"""Folding chunks into a completion: the fold of a stream equals the non-stream completion."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cn_llm_client._stream import (
    StreamAccumulator,
    delta_of,
    normalize_reasoning,
    parse_tool_arguments,
)


def _pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True) if text[a:b]]


def stream_of(completion: dict[str, Any], cuts: list[int]) -> list[dict[str, Any]]:
    """How an OpenAI-compatible server streams `completion`, cut into pieces at `cuts`."""
    head = {k: completion[k] for k in ("id", "model", "created")}
    message = completion["choices"][0]["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **head,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    chunks = [
        chunk({"role": "assistant", "content": "" if message["content"] is not None else None})
    ]
    chunks += [
        chunk({"reasoning_content": p}) for p in _pieces(message.get("reasoning_content", ""), cuts)
    ]
    chunks += [chunk({"content": p}) for p in _pieces(message["content"] or "", cuts)]
    for index, call in enumerate(message.get("tool_calls", [])):
        args = _pieces(call["function"]["arguments"], cuts) or [""]
        first = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": args[0]},
        }
        chunks.append(chunk({"tool_calls": [first]}))
        chunks += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": a}}]})
            for a in args[1:]
        ]
    chunks.append(chunk({}, completion["choices"][0]["finish_reason"]))
    chunks.append(
        {**head, "object": "chat.completion.chunk", "choices": [], "usage": completion["usage"]}
    )
    return chunks


_calls = st.lists(
    st.builds(
        lambda i, name, args: {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": name, "arguments": args},
        },
        st.integers(0, 10**6),
        st.sampled_from(["get_weather", "search"]),
        st.text(max_size=40),
    ),
    max_size=3,
    unique_by=lambda c: c["id"],
)


@given(
    st.one_of(st.none(), st.text(max_size=60)),
    st.text(max_size=60),
    _calls,
    st.lists(st.integers(0, 60), max_size=8),
)
def test_fold_equals_non_stream_completion(
    content: str | None, reasoning: str, calls: list, cuts: list[int]
) -> None:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "deepseek-v3.2",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    acc = StreamAccumulator()
    for chunk in stream_of(completion, cuts):
        acc.add(chunk)
    assert acc.completion() == completion


def test_servers_that_reuse_index_zero_are_told_apart_by_id() -> None:
    acc = StreamAccumulator()
    for delta in (
        {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x"'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
        {"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]},
        {
            "tool_calls": [{"index": 0, "id": "b", "function": {"arguments": ""}}]
        },  # same id: same call
    ):
        acc.add({"choices": [{"index": 0, "delta": delta}]})
    calls = acc.completion()["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("a", "f", '{"x": 1}'),
        ("b", "g", "{}"),
    ]


def test_partial_fold_keeps_what_arrived_and_other_choices_are_ignored() -> None:
    acc = StreamAccumulator()
    acc.add(
        {
            "id": "c",
            "model": "m",
            "created": 2,
            "choices": [{"index": 0, "delta": {"reasoning": "think"}}],
        }
    )
    acc.add(
        {
            "choices": [
                {"index": 1, "delta": {"content": "other"}},
                {"index": 0, "delta": {"content": "hi"}},
            ]
        }
    )
    done = acc.completion()
    assert done["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "hi", "reasoning_content": "think"},
        "finish_reason": None,
    }
    assert "usage" not in done


def test_delta_of() -> None:
    assert delta_of({"choices": [{"index": 0, "delta": {"content": "x"}}]}) == {"content": "x"}
    assert delta_of({"choices": [], "usage": {}}) is None


def test_parse_tool_arguments() -> None:
    assert parse_tool_arguments(None) == {}
    assert parse_tool_arguments("") == {}
    assert parse_tool_arguments(" null ") == {}
    assert parse_tool_arguments('{"city": "北京"}') == {"city": "北京"}
    assert parse_tool_arguments({"a": 1}) == {"a": 1}
    assert parse_tool_arguments('{"city": ') is None
    assert parse_tool_arguments("[1, 2]") is None


def test_fold_is_linear() -> None:
    acc = StreamAccumulator()
    chunk = {"choices": [{"index": 0, "delta": {"content": "字"}}]}
    started = time.perf_counter()
    for _ in range(100_000):
        acc.add(chunk)
    text = acc.completion()["choices"][0]["message"]["content"]
    assert len(text) == 100_000
    assert time.perf_counter() - started < 2.0  # generous; quadratic joining would take far longer


def test_asking_for_the_fold_again_rejoins_nothing() -> None:
    """Adapters may ask for the fold after every chunk: the joined text is kept, not rebuilt."""
    acc = StreamAccumulator()
    call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}
    acc.add({"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    for piece in ("天", "气", "好"):
        fragment = {"index": 0, "function": {"arguments": piece}}
        delta = {"content": piece, "reasoning_content": piece, "tool_calls": [fragment]}
        acc.add({"choices": [{"index": 0, "delta": delta}]})

    def fields() -> tuple[str, str, str]:
        message = acc.completion()["choices"][0]["message"]
        args = message["tool_calls"][0]["function"]["arguments"]
        return message["content"], message["reasoning_content"], args

    first, again = fields(), fields()
    assert first == ("天气好", "天气好", "天气好")
    assert all(a is b for a, b in zip(first, again, strict=True))  # the same objects: cached
    assert acc.text is first[0]
    acc.add({"choices": [{"index": 0, "delta": {"content": "！"}}]})
    assert fields()[0] == acc.text == "天气好！"


def test_fold_after_every_chunk_is_the_running_prefix() -> None:
    acc = StreamAccumulator()
    text = ""
    for i in range(200):
        piece = str(i % 10)
        acc.add({"choices": [{"index": 0, "delta": {"content": piece}}]})
        text += piece
        assert acc.completion()["choices"][0]["message"]["content"] == text


def test_reasoning_spelled_reasoning_is_renamed_to_reasoning_content() -> None:
    """Newer vLLM and Ollama send `reasoning`; consumers of the chunks see one spelling."""
    first = {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning": "想"}}]}
    second = {"choices": [{"index": 0, "delta": {"reasoning": "一想", "content": None}}]}
    both = {"choices": [{"index": 0, "delta": {"reasoning_content": "。", "reasoning": "。"}}]}
    acc = StreamAccumulator()
    for chunk in (first, second, both):
        acc.add(chunk)
    assert delta_of(first) == {"reasoning_content": "想"}
    assert delta_of(second) == {"reasoning_content": "一想", "content": None}
    assert acc.completion()["choices"][0]["message"]["reasoning_content"] == "想一想。"


def test_normalize_reasoning_in_a_completion() -> None:
    completion = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "4", "reasoning": "2+2"}},
            {"index": 1, "message": {"role": "assistant", "content": "x", "reasoning": None}},
        ]
    }
    assert normalize_reasoning(completion) is completion
    messages = [choice["message"] for choice in completion["choices"]]
    assert messages[0] == {"role": "assistant", "content": "4", "reasoning_content": "2+2"}
    assert messages[1] == {"role": "assistant", "content": "x"}
    kept = {"choices": [{"message": {"reasoning_content": "a", "reasoning": "a"}}]}
    assert normalize_reasoning(kept)["choices"][0]["message"]["reasoning_content"] == "a"
    assert normalize_reasoning({"object": "list", "data": []}) == {"object": "list", "data": []}


def test_tool_arguments_sent_as_an_object_become_json_text() -> None:
    # A few servers send arguments as an object (parse_tool_arguments accepts one in a body); in a
    # stream the fold must stay text, or joining a second fragment raised TypeError.
    def fragment(**function: Any) -> dict[str, Any]:
        call = {"index": 0, "id": "a", "function": function}
        return {"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}

    acc = StreamAccumulator()
    acc.add(fragment(name="f", arguments={"城": "北京"}))
    call = acc.completion()["choices"][0]["message"]["tool_calls"][0]
    assert parse_tool_arguments(call["function"]["arguments"]) == {"城": "北京"}
    acc.add(fragment(arguments={"x": 1}))
    call = acc.completion()["choices"][0]["message"]["tool_calls"][0]
    assert isinstance(call["function"]["arguments"], str)


def test_tool_call_slots_are_the_folds_rule_fragment_by_fragment() -> None:
    """Public for adapters that forward fragments (LangChain): one index per call, id and name
    once, whatever the server's indices (reused 0) and repeats (MiniMax) were."""
    from cn_llm_client import ToolCallFragment, ToolCallSlots

    fragments = [
        {"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x"'}},
        {"index": 0, "id": "a", "function": {"name": "f", "arguments": ": 1}"}},
        {"index": 0, "id": "b", "function": {"name": "g", "arguments": {"y": 2}}},
        {"index": 0, "function": {"arguments": ""}},
    ]
    slots, acc = ToolCallSlots(), StreamAccumulator()
    placed = [slots.place(fragment) for fragment in fragments]
    assert placed == [
        ToolCallFragment(0, "a", "f", '{"x"'),
        ToolCallFragment(0, None, None, ": 1}"),
        ToolCallFragment(1, "b", "g", '{"y":2}'),
        ToolCallFragment(1, None, None, ""),
    ]
    for fragment in fragments:
        acc.add({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]})
    calls = acc.completion()["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("a", "f", '{"x": 1}'),
        ("b", "g", '{"y":2}'),
    ]
