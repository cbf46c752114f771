"""Completion modes: DeepSeek FIM, DeepSeek prefix completion, Kimi / Qwen partial mode.

Wire facts (wire-facts-2 section 6): FIM is `POST /beta/completions` on DeepSeek's beta base
(`https://api.deepseek.com/beta`), prompt + suffix, max_tokens <= 4K, `choices[].text`; prefix
completion is a last assistant message with `"prefix": true`, on the beta base only (DeepSeek
answers 400 "prefix is only available when using beta api" elsewhere); Kimi and Qwen take
`"partial": true` on that message, Qwen only without thinking.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from cn_llm_client import AsyncCNLLMClient, CNLLMClient, CostMeter
from cn_llm_client.errors import InvalidRequestError, StreamInterruptedError
from cn_llm_client.testing import FakeGateway, Fault

CODE_BEFORE = "def fib(n):\n    a, b = 0, 1\n"
CODE_AFTER = "    return a\n"
QUESTION = [{"role": "user", "content": "Write quick sort in Python"}]
FENCE = "```python\n"


def client_for(gw: FakeGateway, provider: str, **options: Any) -> CNLLMClient:
    return CNLLMClient(provider=provider, base_url=gw.base_url, api_key=gw.api_key, **options)


@pytest.fixture
def deepseek() -> Any:
    with FakeGateway(mode="deepseek") as gw:
        yield gw


# ------------------------------------------------------------------ FIM


def test_fim_posts_prompt_and_suffix_to_the_beta_base(deepseek: FakeGateway) -> None:
    with client_for(deepseek, "deepseek") as client:
        body = client.fim(
            "deepseek-chat", CODE_BEFORE, suffix=CODE_AFTER, max_tokens=128, stop=["\n\n"]
        )

    [request] = deepseek.requests
    assert request.path == "/beta/completions"  # the base URL's root + /beta, not /v1/...
    assert request.body == {
        "model": "deepseek-chat",
        "prompt": CODE_BEFORE,
        "suffix": CODE_AFTER,
        "max_tokens": 128,
        "stop": ["\n\n"],
    }
    assert body["object"] == "text_completion"
    assert (
        body["choices"][0]["text"] == "    # [deepseek-chat] fills 'a, b = 0, 1' ... 'return a'\n"
    )
    usage = body["usage"]
    assert usage["cost"] == pytest.approx(
        (usage["prompt_tokens"] * 0.28 + usage["completion_tokens"] * 0.42) / 1e6
    )
    assert body["request_id"].startswith("req_emu_")


def test_fim_streams_the_same_text_sync_and_async(deepseek: FakeGateway) -> None:
    meter = CostMeter()
    with client_for(deepseek, "deepseek", meter=meter) as client:
        whole = client.fim("deepseek-chat", CODE_BEFORE, suffix=CODE_AFTER)["choices"][0]["text"]
        streamed = "".join(client.fim_stream("deepseek-chat", CODE_BEFORE, suffix=CODE_AFTER))

    async def main() -> str:
        async with AsyncCNLLMClient(
            provider="deepseek", base_url=deepseek.base_url, api_key=deepseek.api_key
        ) as aclient:
            done = await aclient.fim("deepseek-chat", CODE_BEFORE, suffix=CODE_AFTER)
            pieces = [p async for p in aclient.fim_stream("deepseek-chat", CODE_BEFORE)]
            assert done["choices"][0]["text"] == whole
            return "".join(pieces)

    async_streamed = asyncio.run(main())
    assert streamed == whole and len(whole) > 20
    assert async_streamed.startswith("    # [deepseek-chat] fills 'a, b = 0, 1' ... ''")
    body = deepseek.requests[1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert meter.calls == 2 and meter.cost_usd > 0  # the stream's usage was charged too


def test_a_broken_fim_stream_keeps_its_text(deepseek: FakeGateway) -> None:
    deepseek.push(Fault.cut_stream(after_events=3))
    pieces: list[str] = []
    client = client_for(deepseek, "deepseek", max_retries=0)
    with client, pytest.raises(StreamInterruptedError) as caught:
        for piece in client.fim_stream("deepseek-chat", CODE_BEFORE, suffix=CODE_AFTER):
            pieces.append(piece)
    partial = caught.value.partial
    assert partial is not None and pieces
    assert partial["choices"][0]["message"]["content"] == "".join(pieces)


@pytest.mark.parametrize("provider", ["aisa", "dashscope", "moonshot", "zhipu", "vllm"])
def test_fim_elsewhere_is_refused_before_the_request(provider: str) -> None:
    mode = "aisa" if provider == "aisa" else provider
    with FakeGateway(mode=mode) as gw, client_for(gw, provider) as client:
        with pytest.raises(InvalidRequestError, match="no FIM .* use provider=deepseek"):
            client.fim("any-model", CODE_BEFORE, suffix=CODE_AFTER)
        with pytest.raises(InvalidRequestError, match="provider=deepseek"):
            list(client.fim_stream("any-model", CODE_BEFORE))
        assert gw.requests == []


def test_fim_limits_are_checked_before_the_request(deepseek: FakeGateway) -> None:
    with client_for(deepseek, "deepseek") as client:
        with pytest.raises(InvalidRequestError, match="FIM limit of 4096"):
            client.fim("deepseek-chat", CODE_BEFORE, max_tokens=5000)
        with pytest.raises(InvalidRequestError, match="prompt must be a non-empty string"):
            client.fim("deepseek-chat", "")
        with pytest.raises(InvalidRequestError, match="temperature"):
            client.fim("deepseek-chat", CODE_BEFORE, temperature=3)
    assert deepseek.requests == []


def test_the_emulator_serves_fim_only_where_deepseek_does(deepseek: FakeGateway) -> None:
    headers = {"Authorization": f"Bearer {deepseek.api_key}"}
    root = deepseek.base_url.removesuffix("/v1")
    body = {"model": "deepseek-chat", "prompt": CODE_BEFORE, "suffix": CODE_AFTER}
    assert httpx.post(f"{root}/v1/completions", json=body, headers=headers).status_code == 404
    too_long = httpx.post(
        f"{root}/beta/completions", json={**body, "max_tokens": 5000}, headers=headers
    )
    assert too_long.status_code == 400 and "[1, 4096]" in too_long.text
    cut = httpx.post(f"{root}/beta/completions", json={**body, "max_tokens": 3}, headers=headers)
    assert cut.json()["choices"][0]["finish_reason"] == "length"
    with FakeGateway(mode="moonshot") as kimi:
        kimi_root = kimi.base_url.removesuffix("/v1")
        reply = httpx.post(f"{kimi_root}/beta/completions", json=body, headers=headers)
        assert reply.status_code == 404


# ------------------------------------------------------------------ prefix / partial


def test_deepseek_prefix_goes_to_the_beta_base_as_the_last_assistant_message(
    deepseek: FakeGateway,
) -> None:
    with client_for(deepseek, "deepseek") as client:
        reply = client.chat("deepseek-chat", QUESTION, assistant_prefix=FENCE, stop=["```"])
        with client.stream("deepseek-chat", QUESTION, assistant_prefix=FENCE) as stream:
            pieces = [c["choices"][0]["delta"].get("content") or "" for c in stream if c["choices"]]
        plain = client.chat("deepseek-chat", QUESTION)

    first, streamed, normal = deepseek.requests
    assert first.path == streamed.path == "/beta/chat/completions"
    assert first.body["messages"] == [
        *QUESTION,
        {"role": "assistant", "content": FENCE, "prefix": True},
    ]
    assert first.body["stop"] == ["```"]
    text = reply["choices"][0]["message"]["content"]
    assert text == "[deepseek-chat] (after '```python\\n') Write quick sort in Python"
    assert "".join(pieces) == text  # the continuation only: the caller holds the prefix
    assert normal.path == "/v1/chat/completions"  # without a prefix nothing moves
    assert plain["choices"][0]["message"]["content"] == "[deepseek-chat] Write quick sort in Python"


def test_async_prefix_completion(deepseek: FakeGateway) -> None:
    async def main() -> dict[str, Any]:
        async with AsyncCNLLMClient(
            provider="deepseek", base_url=deepseek.base_url, api_key=deepseek.api_key
        ) as client:
            return await client.chat("deepseek-chat", QUESTION, assistant_prefix=FENCE)

    reply = asyncio.run(main())
    assert deepseek.requests[0].path == "/beta/chat/completions"
    assert reply["choices"][0]["message"]["content"].startswith("[deepseek-chat] (after")


def test_deepseek_refuses_prefix_outside_the_beta_base(deepseek: FakeGateway) -> None:
    headers = {"Authorization": f"Bearer {deepseek.api_key}"}
    messages = [*QUESTION, {"role": "assistant", "content": FENCE, "prefix": True}]
    body = {"model": "deepseek-chat", "messages": messages}
    refused = httpx.post(f"{deepseek.base_url}/chat/completions", json=body, headers=headers)
    assert refused.status_code == 400
    assert "prefix is only available when using beta api" in refused.text


@pytest.mark.parametrize(("mode", "model"), [("moonshot", "kimi-k2"), ("dashscope", "qwen-plus")])
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_kimi_and_qwen_partial_mode(mode: str, model: str, stream: bool) -> None:
    with FakeGateway(mode=mode) as gw, client_for(gw, mode) as client:
        if stream:
            text = "".join(client.chat_stream(model, QUESTION, assistant_prefix="def quick_sort("))
        else:
            reply = client.chat(model, QUESTION, assistant_prefix="def quick_sort(")
            text = reply["choices"][0]["message"]["content"]
        [request] = gw.requests

    assert request.path == "/v1/chat/completions"
    assert request.body["messages"][-1] == {
        "role": "assistant",
        "content": "def quick_sort(",
        "partial": True,
    }
    assert text == f"[{model}] (after 'def quick_sort(') Write quick sort in Python"


def test_qwen_partial_mode_needs_thinking_off() -> None:
    with FakeGateway(mode="dashscope") as gw, client_for(gw, "dashscope") as client:
        with pytest.raises(InvalidRequestError, match="only without thinking"):
            client.chat("qwen3-235b-a22b", QUESTION, assistant_prefix="def ")  # thinks by default
        with pytest.raises(InvalidRequestError, match="only without thinking"):
            client.chat("qwen-plus", QUESTION, assistant_prefix="def ", reasoning=True)
        assert gw.requests == []
        reply = client.chat("qwen3-235b-a22b", QUESTION, assistant_prefix="def ", reasoning=False)
    assert reply["choices"][0]["message"]["content"].startswith("[qwen3-235b-a22b] (after 'def ')")


@pytest.mark.parametrize("provider", ["aisa", "zhipu", "siliconflow", "ollama"])
def test_assistant_prefix_elsewhere_is_refused_naming_who_has_it(provider: str) -> None:
    with FakeGateway(mode=provider) as gw, client_for(gw, provider) as client:
        with pytest.raises(InvalidRequestError, match="dashscope or deepseek or moonshot"):
            client.chat("any-model", QUESTION, assistant_prefix=FENCE)
        assert gw.requests == []


def test_assistant_prefix_needs_a_conversation_ending_with_the_user(deepseek: FakeGateway) -> None:
    history = [*QUESTION, {"role": "assistant", "content": "Sure:"}]
    with client_for(deepseek, "deepseek") as client:
        with pytest.raises(InvalidRequestError, match="end messages with the user"):
            client.chat("deepseek-chat", history, assistant_prefix=FENCE)
        with pytest.raises(InvalidRequestError, match="non-empty string"):
            client.chat("deepseek-chat", QUESTION, assistant_prefix="")
    assert deepseek.requests == []


def test_a_base_url_already_on_the_beta_base_is_kept(deepseek: FakeGateway) -> None:
    beta = deepseek.base_url.removesuffix("/v1") + "/beta"  # as DeepSeek's own docs set it
    with CNLLMClient(provider="deepseek", base_url=beta, api_key=deepseek.api_key) as client:
        client.fim("deepseek-chat", CODE_BEFORE, suffix=CODE_AFTER)
        client.chat("deepseek-chat", QUESTION, assistant_prefix=FENCE)
    assert [r.path for r in deepseek.requests] == ["/beta/completions", "/beta/chat/completions"]
