"""Context-cache accounting: one `cache_read_tokens` figure, priced at the cache-hit rate.

DeepSeek reports `prompt_cache_hit_tokens`, DashScope `prompt_tokens_details.cached_tokens`, Kimi
`cached_tokens` (in streams inside `choices[0]`); the emulator in each mode reports the tokens of
a prompt prefix it has seen before in that provider's own field (wire-facts-2 section 8).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cn_llm_client import AsyncCNLLMClient, CNLLMClient
from cn_llm_client._stream import StreamAccumulator, normalize_usage
from cn_llm_client.catalog import cost_of, get_model
from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.testing import FakeGateway

RULES = "你是一名严谨的助手，回答前先核对事实。" * 40  # 760 tokens in the emulator's count
MARKED_RULES = "缓存的长文档内容。" * 150  # 1,350 tokens: over DashScope's 1,024 minimum


def conversation(question: str, system: str = RULES) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


# ------------------------------------------------------------------ one spelling in the core


@pytest.mark.parametrize(
    ("usage", "read"),
    [
        (
            {"prompt_tokens": 900, "prompt_cache_hit_tokens": 640, "prompt_cache_miss_tokens": 260},
            640,
        ),
        ({"prompt_tokens": 900, "prompt_tokens_details": {"cached_tokens": 512}}, 512),
        ({"prompt_tokens": 900, "cached_tokens": 300}, 300),
        ({"prompt_tokens": 900, "prompt_tokens_details": {"cached_tokens": 0}}, 0),
    ],
    ids=["deepseek", "dashscope", "kimi", "a-miss"],
)
def test_every_provider_spelling_becomes_cache_read_tokens(
    usage: dict[str, Any], read: int
) -> None:
    assert normalize_usage(usage) is usage
    assert usage["cache_read_tokens"] == read


def test_no_cache_figure_adds_nothing_and_creation_is_cache_write_tokens() -> None:
    assert "cache_read_tokens" not in normalize_usage({"prompt_tokens": 5, "total_tokens": 9})
    details = {"cached_tokens": 0, "cache_creation_input_tokens": 1350, "cache_type": "ephemeral"}
    usage = normalize_usage({"prompt_tokens": 1400, "prompt_tokens_details": details})
    assert (usage["cache_read_tokens"], usage["cache_write_tokens"]) == (0, 1350)


def test_kimi_stream_usage_inside_the_choice_is_lifted_to_the_chunk() -> None:
    acc = StreamAccumulator()
    acc.add({"id": "c", "choices": [{"index": 0, "delta": {"content": "好"}}]})
    usage = {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21, "cached_tokens": 16}
    last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}]}
    acc.add(last)

    assert last["usage"]["cache_read_tokens"] == 16  # readers of the chunk see it at the top
    assert acc.completion()["usage"]["cache_read_tokens"] == 16


def test_cost_prices_cache_hits_at_the_catalog_rate() -> None:
    info = get_model("deepseek-chat", "deepseek")
    assert info is not None and (info.input_price, info.cache_hit_price) == (0.28, 0.028)
    usage = {
        "prompt_tokens": 1_000_000,
        "completion_tokens": 1_000_000,
        "cache_read_tokens": 600_000,
    }
    expected = 400_000 * 0.28 / 1e6 + 600_000 * 0.028 / 1e6 + 0.42
    assert cost_of("deepseek-chat", usage, "deepseek") == pytest.approx(expected)
    # Without a documented hit price, cached tokens cost what input costs.
    assert get_model("deepseek-v3") is not None and get_model("deepseek-v3").cache_hit_price is None
    assert cost_of("deepseek-v3", usage) == cost_of(
        "deepseek-v3", {**usage, "cache_read_tokens": 0}
    )


# ------------------------------------------------------------------ per provider, end to end

MODES = [
    ("deepseek", "deepseek-chat", lambda u: u["prompt_cache_hit_tokens"]),
    ("dashscope", "qwen-plus", lambda u: u["prompt_tokens_details"]["cached_tokens"]),
    ("moonshot", "kimi-k2", lambda u: u["cached_tokens"]),
]


@pytest.mark.parametrize(("mode", "model", "own_field"), MODES, ids=[m[0] for m in MODES])
def test_a_repeated_prefix_is_read_from_the_cache(mode: str, model: str, own_field: Any) -> None:
    with (
        FakeGateway(mode=mode) as gw,
        CNLLMClient(provider=mode, base_url=gw.base_url, api_key=gw.api_key) as client,
    ):
        first = client.chat(model, conversation("第一个问题"))["usage"]
        second = client.chat(model, conversation("第二个问题"))["usage"]
        with client.stream(model, conversation("第三个问题")) as stream:
            chunks = list(stream)
        streamed = stream.completion()["usage"]

    assert first["cache_read_tokens"] == own_field(first) == 0
    assert second["cache_read_tokens"] == own_field(second) > 500  # the system prompt
    assert second["cache_read_tokens"] < second["prompt_tokens"]
    assert streamed["cache_read_tokens"] == second["cache_read_tokens"]
    assert any((c.get("usage") or {}).get("cache_read_tokens") for c in chunks)


def test_async_client_reads_the_cache_too() -> None:
    async def main() -> list[dict[str, Any]]:
        async with AsyncCNLLMClient(
            provider="deepseek", base_url=gw.base_url, api_key=gw.api_key
        ) as client:
            first = await client.chat("deepseek-chat", conversation("一"))
            async with client.stream("deepseek-chat", conversation("二")) as stream:
                async for _ in stream:
                    pass
            return [first["usage"], stream.completion()["usage"]]

    with FakeGateway(mode="deepseek") as gw:
        first, second = asyncio.run(main())
    assert first["cache_read_tokens"] == 0 and second["cache_read_tokens"] >= 640


def test_deepseek_cache_hits_are_charged_at_the_hit_price() -> None:
    with (
        FakeGateway(mode="deepseek") as gw,
        CNLLMClient(provider="deepseek", base_url=gw.base_url, api_key=gw.api_key) as client,
    ):
        miss = client.chat("deepseek-chat", conversation("问题"))["usage"]
        hit = client.chat("deepseek-chat", conversation("问题"))["usage"]  # the same prompt

    assert hit["prompt_tokens"] == miss["prompt_tokens"]
    cached = hit["cache_read_tokens"]
    assert cached > 0
    assert hit["cost"] == pytest.approx(
        ((hit["prompt_tokens"] - cached) * 0.28 + cached * 0.028 + hit["completion_tokens"] * 0.42)
        / 1e6
    )
    assert hit["cost"] < miss["cost"]


# ------------------------------------------------------------------ explicit markers (DashScope)


def marked_conversation(question: str) -> list[dict[str, Any]]:
    part = {"type": "text", "text": MARKED_RULES, "cache_control": {"type": "ephemeral"}}
    return [{"role": "system", "content": [part]}, {"role": "user", "content": question}]


def test_dashscope_markers_reach_the_body_create_then_hit() -> None:
    with (
        FakeGateway(mode="dashscope") as gw,
        CNLLMClient(provider="dashscope", base_url=gw.base_url, api_key=gw.api_key) as client,
    ):
        created = client.chat("qwen-plus", marked_conversation("第一问"))["usage"]
        read = client.chat("qwen-plus", marked_conversation("第二问"))["usage"]
        body = gw.requests[0].body

    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert created["prompt_tokens_details"]["cache_type"] == "ephemeral"
    assert (
        created["cache_write_tokens"]
        == created["prompt_tokens_details"]["cache_creation_input_tokens"]
        > 1024
    )
    assert created["cache_read_tokens"] == 0
    assert read["cache_read_tokens"] == created["cache_write_tokens"]


@pytest.mark.parametrize("provider", ["deepseek", "moonshot", "aisa", "zhipu"])
def test_markers_are_refused_before_the_request_where_the_provider_has_none(
    provider: str,
) -> None:
    with (
        FakeGateway(mode="aisa" if provider == "aisa" else provider) as gw,
        CNLLMClient(provider=provider, base_url=gw.base_url, api_key=gw.api_key) as client,
    ):
        with pytest.raises(InvalidRequestError, match="provider=dashscope"):
            client.chat("any-model", marked_conversation("问"))
        assert gw.requests == []


def test_more_than_four_markers_or_another_type_are_refused() -> None:
    part = {"type": "text", "text": "段落", "cache_control": {"type": "ephemeral"}}
    five = [{"role": "user", "content": [part] * 5}]
    odd = [{"role": "user", "content": [{**part, "cache_control": {"type": "persistent"}}]}]
    with CNLLMClient(provider="dashscope", base_url="http://127.0.0.1:9/v1") as client:
        with pytest.raises(InvalidRequestError, match="at most 4"):
            client.chat("qwen-plus", five)
        with pytest.raises(InvalidRequestError, match="ephemeral"):
            client.chat("qwen-plus", odd)


def test_the_emulator_refuses_five_markers_as_dashscope_does() -> None:
    import httpx

    part = {"type": "text", "text": "段落", "cache_control": {"type": "ephemeral"}}
    body = {"model": "qwen-plus", "messages": [{"role": "user", "content": [part] * 5}]}
    with FakeGateway(mode="dashscope") as gw:
        reply = httpx.post(
            f"{gw.base_url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {gw.api_key}"},
        )
    assert reply.status_code == 400 and "4 cache_control" in reply.text
