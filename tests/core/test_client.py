"""CNLLMClient / AsyncCNLLMClient against the offline gateway (the seed's SDK snippets and more)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from itertools import islice
from types import SimpleNamespace
from typing import Any

import pytest

from cn_llm_client import (
    MODEL_MAP,
    AsyncCNLLMClient,
    BudgetExceededError,
    CNLLMClient,
    ConfigurationError,
    CostMeter,
    InvalidRequestError,
    ModelNotFoundError,
)
from cn_llm_client.client import AsyncMeteredStream, MeteredStream
from cn_llm_client.testing import FakeGateway, Fault

SECRET = "sk-secret-client-test-123456"


@pytest.fixture
def seed_env(fake_gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    """The seed's set-up with only the base URL changed: key and URL from the environment."""
    monkeypatch.setenv("AISA_API_KEY", fake_gateway.api_key)
    monkeypatch.setenv("AISA_BASE_URL", fake_gateway.base_url)
    return fake_gateway


@pytest.fixture
def client(seed_env: FakeGateway) -> Iterator[CNLLMClient]:
    with CNLLMClient() as c:
        yield c


def _bodies(gw: FakeGateway) -> list[dict]:
    return [r.body for r in gw.requests if r.path.endswith("/chat/completions")]


# ---------------------------------------------------------------- the seed's snippets


def test_seed_sdk_usage(client: CNLLMClient, seed_env: FakeGateway, capsys: Any) -> None:
    # Qwen chat
    response = client.chat(model="qwen3-max", messages=[{"role": "user", "content": "Hello!"}])
    print(response["choices"][0]["message"]["content"])

    # Qwen3 code generation
    response = client.chat(
        model="qwen3-coder-plus",
        messages=[
            {"role": "system", "content": "You are a professional programmer."},
            {"role": "user", "content": "Implement a singleton pattern in Python"},
        ],
        temperature=0.3,
    )
    assert "singleton" in response["choices"][0]["message"]["content"]

    # Streaming output
    for chunk in client.chat_stream(
        model="deepseek-v3", messages=[{"role": "user", "content": "Tell a story about an idiom"}]
    ):
        print(chunk, end="", flush=True)

    # Model comparison
    results = client.compare_models(
        models=["qwen3-max", "deepseek-v3", "deepseek-r1"],
        message="Explain what machine learning is",
    )
    for model, result in results.items():
        print(f"{model}: {result['response'][:100]}...")

    out = capsys.readouterr().out
    assert "[qwen3-max] Hello!" in out
    assert "[deepseek-v3] Tell a story about an idiom" in out
    assert "deepseek-r1: [deepseek-r1] Explain what machine learning is..." in out
    assert [b["model"] for b in _bodies(seed_env)[:3]] == [
        "qwen3-max",
        "qwen3-coder-plus",
        "deepseek-v3",
    ]
    assert _bodies(seed_env)[1]["temperature"] == 0.3


@pytest.mark.parametrize(
    ("model", "messages"),
    [
        (
            "qwen3-max",
            [
                {"role": "system", "content": "You are a professional copywriter."},
                {"role": "user", "content": "Write a product introduction for a smart watch"},
            ],
        ),
        ("qwen3-coder-plus", [{"role": "user", "content": "Implement a thread-safe Map in Go"}]),
        (
            "deepseek-r1",
            [
                {
                    "role": "user",
                    "content": "Prove: For any positive integer n, n³-n is divisible by 6",
                }
            ],
        ),
        (
            "qwen3-vl-plus",
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe the content of this image"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/image.jpg"},
                        },
                    ],
                }
            ],
        ),
    ],
    ids=["copywriting", "code", "reasoning", "vision"],
)
def test_seed_use_cases(client: CNLLMClient, model: str, messages: list[dict]) -> None:
    response = client.chat(model=model, messages=messages)
    message = response["choices"][0]["message"]
    assert message["content"].startswith(f"[{model}]")
    assert response["usage"]["cost"] > 0
    assert "credits_remaining" in response["usage"]  # passed through from the gateway
    assert response["request_id"].startswith("req_")
    if model == "deepseek-r1":
        assert message["reasoning_content"]


def test_seed_router(client: CNLLMClient, seed_env: FakeGateway) -> None:
    def route_by_task(task_type: str, message: str) -> dict:
        return client.route(task_type, message)

    for task, model in MODEL_MAP.items():
        response = route_by_task(task, "Hello")
        assert response["choices"][0]["message"]["content"].startswith(f"[{model}]")
    route_by_task("poetry", "Hello")  # unknown task: the "chat" model, as in the seed
    assert [b["model"] for b in _bodies(seed_env)] == [*MODEL_MAP.values(), "qwen3-max"]


def test_router_override(seed_env: FakeGateway) -> None:
    with CNLLMClient(model_map={"code": "deepseek-v3", "chat": "deepseek-v3.1"}) as c:
        c.route("code", "sort a list")
        c.route("unknown", "hi")
        c.route("fast", "hi")
    assert [b["model"] for b in _bodies(seed_env)] == [
        "deepseek-v3",
        "deepseek-v3.1",
        "qwen3-coder-flash",
    ]


# ---------------------------------------------------------------- behaviour


def test_cost_filled_from_catalog_when_gateway_sends_none() -> None:
    # deepseek mode sends no usage.cost; the catalog prices deepseek-v3 at $1 / $4 per 1M.
    with (
        FakeGateway(mode="deepseek", api_key=None, models=["deepseek-v3"]) as gw,
        CNLLMClient(base_url=gw.base_url) as c,
    ):
        response = c.chat("deepseek-v3", [{"role": "user", "content": "hi"}])
    usage = response["usage"]
    assert usage["cost"] == pytest.approx(
        (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 4.0) / 1e6
    )


def test_stream_yields_chunks_and_final_cost(client: CNLLMClient) -> None:
    with client.stream("deepseek-r1", [{"role": "user", "content": "9.9 or 9.11?"}]) as stream:
        chunks = list(stream)
    completion = stream.completion()
    assert any(c["choices"] and c["choices"][0]["delta"].get("reasoning_content") for c in chunks)
    assert completion["choices"][0]["message"]["reasoning_content"]
    assert completion["usage"]["cost"] > 0 and completion["request_id"]


def test_compare_one_failing_model_does_not_sink_the_others(client: CNLLMClient) -> None:
    results = client.compare_models(["qwen3-max", "no-such-model", "deepseek-v3"], "Hi")
    assert list(results) == ["qwen3-max", "no-such-model", "deepseek-v3"]
    assert results["no-such-model"]["error"] and "404" in results["no-such-model"]["error"]
    assert results["no-such-model"]["response"] == ""
    for model in ("qwen3-max", "deepseek-v3"):
        r = results[model]
        assert r["error"] is None and r["response"] == f"[{model}] Hi"
        assert r["cost"] == r["usage"]["cost"] > 0
        assert 0 <= r["latency_s"] < 30


def test_compare_rejects_empty_model_list(client: CNLLMClient) -> None:
    with pytest.raises(InvalidRequestError, match="compare_models"):
        client.compare_models([], "hi")


def test_invalid_request_raised_before_any_io(client: CNLLMClient, seed_env: FakeGateway) -> None:
    with pytest.raises(InvalidRequestError):
        client.chat("qwen3-max", [{"role": "wizard", "content": "hi"}])
    with pytest.raises(InvalidRequestError):
        client.chat("qwen3-max", [{"role": "user", "content": "hi"}], temperature=3)
    assert seed_env.requests == []


def test_model_not_found_suggests(client: CNLLMClient) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        client.chat("qwen3-maxx", [{"role": "user", "content": "hi"}])
    assert "qwen3-max" in info.value.suggestions


def test_dashscope_thinking_model_streams_underneath() -> None:
    with (
        FakeGateway(mode="dashscope", api_key="ds-key") as gw,
        CNLLMClient(api_key="ds-key", base_url=gw.base_url, provider="dashscope") as c,
    ):
        response = c.chat("qwen3-235b-a22b", [{"role": "user", "content": "hi"}])
        off = c.chat("qwen3-235b-a22b", [{"role": "user", "content": "hi"}], reasoning=False)
    assert response["choices"][0]["message"]["reasoning_content"]
    assert "reasoning_content" not in off["choices"][0]["message"]
    streamed = [b.get("stream", False) for b in _bodies(gw)]
    assert streamed == [True, False]


@pytest.mark.parametrize("params", [{"reasoning": True}, {"enable_thinking": True}])
def test_dashscope_thinking_on_any_model_streams_underneath(params: dict[str, Any]) -> None:
    with (
        FakeGateway(mode="dashscope", api_key="ds-key") as gw,
        CNLLMClient(api_key="ds-key", base_url=gw.base_url, provider="dashscope") as c,
    ):
        response = c.chat("qwen-plus", [{"role": "user", "content": "hi"}], **params)
    message = response["choices"][0]["message"]
    assert message["content"] and message["reasoning_content"]
    assert response["usage"]["total_tokens"] > 0
    assert [(b.get("stream"), b.get("enable_thinking")) for b in _bodies(gw)] == [(True, True)]


async def test_async_dashscope_thinking_streams_underneath() -> None:
    with FakeGateway(mode="dashscope", api_key="ds-key") as gw:
        async with AsyncCNLLMClient(
            api_key="ds-key", base_url=gw.base_url, provider="dashscope"
        ) as c:
            response = await c.chat(
                "qwen-plus", [{"role": "user", "content": "hi"}], reasoning=1024
            )
    assert response["choices"][0]["message"]["reasoning_content"]
    assert [b.get("stream") for b in _bodies(gw)] == [True]


# ---------------------------------------------------------------- budget


def test_budget_stops_the_next_request(seed_env: FakeGateway) -> None:
    meter = CostMeter(limit_usd=1e-9)
    with CNLLMClient(meter=meter) as c:
        c.chat("qwen3-max", [{"role": "user", "content": "hi"}])
        with pytest.raises(BudgetExceededError, match="Budget spent"):
            c.chat("qwen3-max", [{"role": "user", "content": "hi again"}])
    assert len(_bodies(seed_env)) == 1
    snap = meter.snapshot()
    assert snap["calls"] == 1 and snap["cost_usd"] > 0 and snap["prompt_tokens"] > 0


def test_stream_charges_the_meter_on_completion(seed_env: FakeGateway) -> None:
    meter = CostMeter()
    with CNLLMClient(meter=meter) as c:
        stream = c.stream("qwen3-max", [{"role": "user", "content": "hi"}])
        with stream:
            next(iter(stream))
            assert meter.calls == 0
            list(stream)
    assert meter.calls == 1
    assert meter.cost_usd == pytest.approx(stream.completion()["usage"]["cost"])


def test_meter_is_thread_safe() -> None:
    meter = CostMeter()

    def work() -> None:
        for _ in range(2000):
            meter.charge({"prompt_tokens": 1, "completion_tokens": 2}, 0.5)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert meter.snapshot() == {
        "calls": 16000,
        "prompt_tokens": 16000,
        "completion_tokens": 32000,
        "cost_usd": 8000.0,
        "limit_usd": None,
    }


def test_meter_rejects_negative_limit() -> None:
    with pytest.raises(ValueError, match="limit_usd"):
        CostMeter(limit_usd=-1)


# ---------------------------------------------------------------- key hygiene and pickling


def test_repr_never_shows_the_key() -> None:
    c = CNLLMClient(api_key=SECRET, base_url="https://api.aisa.one/v1")
    assert SECRET not in repr(c) and "api.aisa.one" in repr(c)
    c.close()


def test_pickle_rebuilds_from_environment(seed_env: FakeGateway) -> None:
    meter = CostMeter(limit_usd=5)
    with CNLLMClient(meter=meter, max_retries=1) as c:
        data = pickle.dumps(c)
    assert seed_env.api_key.encode() not in data
    with pickle.loads(data) as copy:
        assert copy.base_url == seed_env.base_url and copy.meter is not None
        assert copy.meter.limit_usd == 5
        assert copy.chat("qwen3-max", [{"role": "user", "content": "hi"}])["choices"]


def test_pickle_drops_an_explicit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    monkeypatch.delenv("AISA_BASE_URL", raising=False)
    with CNLLMClient(api_key=SECRET) as c:
        data = pickle.dumps(c)
    assert SECRET.encode() not in data
    with pytest.raises(ConfigurationError, match="AISA_API_KEY"):
        pickle.loads(data)
    monkeypatch.setenv("AISA_API_KEY", "sk-other-process")
    pickle.loads(data).close()


def test_async_client_pickles_without_key() -> None:
    c = AsyncCNLLMClient(api_key=SECRET, base_url="http://127.0.0.1:9/v1")
    data = pickle.dumps(c)
    assert SECRET.encode() not in data
    assert pickle.loads(data).base_url == "http://127.0.0.1:9/v1"


# ---------------------------------------------------------------- async


async def test_async_client(seed_env: FakeGateway) -> None:
    meter = CostMeter()
    async with AsyncCNLLMClient(meter=meter) as c:
        response = await c.chat("qwen3-max", [{"role": "user", "content": "Hello!"}])
        pieces = [
            p async for p in c.chat_stream("deepseek-v3", [{"role": "user", "content": "story"}])
        ]
        routed = await c.route("code", "sort")
        results = await c.compare_models(["deepseek-r1", "nope-model"], "why?")
    assert response["choices"][0]["message"]["content"] == "[qwen3-max] Hello!"
    assert "".join(pieces) == "[deepseek-v3] story"
    assert routed["choices"][0]["message"]["content"].startswith("[qwen3-coder-plus]")
    assert results["deepseek-r1"]["error"] is None and results["deepseek-r1"]["cost"] > 0
    assert "404" in results["nope-model"]["error"]
    assert meter.calls == 4  # chat, stream, route, one successful compare


async def test_async_aclose_closes_the_pool_and_close_is_its_alias(seed_env: FakeGateway) -> None:
    c = AsyncCNLLMClient()
    await c.chat("qwen3-max", [{"role": "user", "content": "hi"}])
    pool = c._transport._client
    await c.aclose()
    assert pool.is_closed
    await c.chat("qwen3-max", [{"role": "user", "content": "again"}])  # reopens a pool
    pool = c._transport._client
    await c.close()  # AsyncOpenAI's name: code moving over from the openai SDK keeps working
    assert pool.is_closed
    assert AsyncCNLLMClient.close is AsyncCNLLMClient.aclose


async def test_async_stream_fold(seed_env: FakeGateway) -> None:
    async with (
        AsyncCNLLMClient() as c,
        c.stream("deepseek-r1", [{"role": "user", "content": "x"}]) as s,
    ):
        chunks = [chunk async for chunk in s]
    assert chunks and s.completion()["usage"]["cost"] > 0
    assert s.completion()["choices"][0]["message"]["reasoning_content"]


async def test_async_budget(seed_env: FakeGateway) -> None:
    async with AsyncCNLLMClient(meter=CostMeter(limit_usd=0)) as c:
        with pytest.raises(BudgetExceededError):
            await c.chat("qwen3-max", [{"role": "user", "content": "hi"}])
    assert seed_env.requests == []


async def test_fault_is_retried(seed_env: FakeGateway) -> None:
    seed_env.push(Fault.status(503))
    async with AsyncCNLLMClient() as c:
        response = await c.chat("qwen3-max", [{"role": "user", "content": "hi"}])
    assert response["choices"][0]["message"]["content"] == "[qwen3-max] hi"
    assert len(_bodies(seed_env)) == 2


# ---------------------------------------------------------------- metered streams


class _Chunks:
    """A stand-in ChatStream whose every iter() starts over, as a re-iterable would."""

    request_id = "req_1"
    headers: dict[str, str] = {}

    def __init__(self, n: int) -> None:
        self.chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"content": str(i)}}]}
                       for i in range(n)]  # fmt: skip
        self.opened = 0

    def __iter__(self) -> Iterator[dict]:
        self.opened += 1
        return iter(self.chunks)

    async def _agen(self) -> Any:
        for chunk in self.chunks:
            yield chunk

    def __aiter__(self) -> Any:
        self.opened += 1
        return self._agen()

    def completion(self) -> dict:
        return {"choices": [], "usage": None}


def _finish(model: str, completion: dict, request_id: str | None) -> dict:
    return {**completion, "request_id": request_id}


# What a metered stream asks of its client.
_CLIENT = SimpleNamespace(_finish=_finish, _fill_cost=lambda model, usage: None)


def test_metered_stream_keeps_one_iterator() -> None:
    inner = _Chunks(3)
    stream = MeteredStream(inner, "m", _CLIENT)  # type: ignore[arg-type]
    # Bounded: a stream that restarted its inner iterator would repeat "0" forever.
    assert [c["choices"][0]["delta"]["content"] for c in islice(stream, 10)] == ["0", "1", "2"]
    assert inner.opened == 1
    assert stream.completion()["request_id"] == "req_1"  # completed once exhausted


async def test_async_metered_stream_keeps_one_iterator() -> None:
    inner = _Chunks(3)
    stream = AsyncMeteredStream(inner, "m", _CLIENT)  # type: ignore[arg-type]
    seen = []
    async for chunk in stream:
        seen.append(chunk["choices"][0]["delta"]["content"])
        if len(seen) == 10:
            break
    assert seen == ["0", "1", "2"]
    assert inner.opened == 1
    assert stream.completion()["request_id"] == "req_1"


# ---------------------------------------------------------------- event loops

TWO_RUNS = """
import asyncio, gc, warnings
warnings.simplefilter("always", ResourceWarning)
from langchain_core.messages import HumanMessage
from llama_index.core.llms import ChatMessage
from cn_llm_client import AsyncCNLLMClient
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM
from llama_index_cn_llm import CNLLM

HI = [{"role": "user", "content": "hi"}]
with FakeGateway() as gw:
    sdk = AsyncCNLLMClient(api_key=gw.api_key, base_url=gw.base_url)
    chat = ChatCNLLM(model="qwen3-max", api_key=gw.api_key, base_url=gw.base_url)
    llm = CNLLM(model="qwen3-max", api_key=gw.api_key, base_url=gw.base_url)

    async def main():
        answers = [(await sdk.chat("qwen3-max", HI))["choices"][0]["message"]["content"]]
        answers.append("".join([p async for p in sdk.chat_stream("qwen3-max", HI)]))
        answers.append((await chat.ainvoke([HumanMessage("hi")])).content)
        answers.append("".join([c.content async for c in chat.astream([HumanMessage("hi")])]))
        answers.append((await llm.achat([ChatMessage(role="user", content="hi")])).message.content)
        gen = await llm.astream_chat([ChatMessage(role="user", content="hi")])
        answers.append("".join([r.delta async for r in gen]))
        return answers

    for run in range(2):  # never aclose(): asyncio.run's shutdown closes each loop's pool
        answers = asyncio.run(main())
        assert len(answers) == 6 and all(answers), answers
        print("run", run, "ok")
    gc.collect()
"""


def test_asyncio_run_twice_without_aclose_leaves_nothing_unclosed() -> None:
    """The same SDK client, ChatCNLLM and CNLLM across two asyncio.run calls, never closed."""
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", TWO_RUNS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["run", "0", "ok", "run", "1", "ok"]
    assert "Unclosed" not in done.stderr and "unclosed" not in done.stderr, done.stderr


def test_cost_is_the_clients_providers_price() -> None:
    with (
        FakeGateway(mode="dashscope", api_key="ds-key") as gw,
        CNLLMClient(api_key="ds-key", base_url=gw.base_url, provider="dashscope") as c,
    ):
        response = c.chat("qwen3-max", [{"role": "user", "content": "hi"}])
    assert response["usage"]["prompt_tokens"] > 0
    assert response["usage"].get("cost") is None  # not AIsa's price for the same id


@pytest.mark.parametrize(
    ("params", "hint"), [({"stream": True}, r"\.stream\("), ({"provider": "deepseek"}, "provider=")]
)
def test_per_call_stream_or_provider_is_a_clear_error(
    client: CNLLMClient, seed_env: FakeGateway, params: dict[str, Any], hint: str
) -> None:
    # The openai habit chat(..., stream=True) was a TypeError from deep inside build_payload.
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(InvalidRequestError, match=hint):
        client.chat("qwen3-max", messages, **params)
    with pytest.raises(InvalidRequestError, match=hint):
        client.stream("qwen3-max", messages, **params)
    assert seed_env.requests == []


def test_a_streams_usage_chunk_carries_the_cost() -> None:
    """Computed once, in the core, as the usage arrives: adapters read usage["cost"]."""
    with (
        FakeGateway(mode="deepseek", api_key=None, models=["deepseek-v3"]) as gw,
        CNLLMClient(base_url=gw.base_url) as c,
        c.stream("deepseek-v3", [{"role": "user", "content": "hi"}]) as stream,
    ):
        # copied as each chunk arrives: the cost must be there already, not only after the end
        usage = [dict(chunk["usage"]) for chunk in stream if chunk.get("usage")]
    assert usage and usage[-1]["cost"] == pytest.approx(
        (usage[-1]["prompt_tokens"] * 1.0 + usage[-1]["completion_tokens"] * 4.0) / 1e6
    )
    assert stream.completion()["usage"]["cost"] == usage[-1]["cost"]
