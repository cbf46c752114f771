"""CNLLMClient.embed / .rerank and their async twins, against the emulator in each provider mode."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cn_llm_client import (
    AsyncCNLLMClient,
    AuthenticationError,
    BadRequestError,
    CNLLMClient,
    ConfigurationError,
    CostMeter,
    InvalidRequestError,
    ModelNotFoundError,
)
from cn_llm_client._embeddings import plan_embed, plan_rerank, query_text
from cn_llm_client.providers import get_provider
from cn_llm_client.testing import FakeGateway, Fault
from cn_llm_client.testing._embeddings import vector
from cn_llm_client.testing._model import count_tokens

SECRET = "sk-secret-embeddings-test-987654"

# mode -> (embedding model, rerank model or None)
MODELS = {
    "dashscope": ("text-embedding-v4", "qwen3-rerank"),
    "siliconflow": ("BAAI/bge-m3", "BAAI/bge-reranker-v2-m3"),
    "zhipu": ("embedding-3", None),
    "vllm": ("Qwen/Qwen3-Embedding-0.6B", "BAAI/bge-reranker-v2-m3"),
    "ollama": ("bge-m3", None),
}
PASSAGES = [
    "长城是中国古代的军事防御工程，绵延上万里。",
    "大熊猫主要吃竹子，生活在四川的山林里。",
    "上海是中国最大的港口城市之一。",
    "故宫位于北京，是明清两代的皇宫。",
]
QUERY = "熊猫吃什么？"


@pytest.fixture(params=list(MODELS))
def gw(request: pytest.FixtureRequest) -> Iterator[FakeGateway]:
    with FakeGateway(mode=request.param, api_key=SECRET, latency=0.02) as gateway:
        yield gateway


def _client(gw: FakeGateway, **options: Any) -> CNLLMClient:
    return CNLLMClient(api_key=SECRET, base_url=gw.base_url, provider=gw.mode, **options)


def _async_client(gw: FakeGateway, **options: Any) -> AsyncCNLLMClient:
    return AsyncCNLLMClient(api_key=SECRET, base_url=gw.base_url, provider=gw.mode, **options)


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------- each provider's shape


def test_embed_in_every_mode_returns_the_openai_shape_and_finds_the_passage(
    gw: FakeGateway,
) -> None:
    model = MODELS[gw.mode][0]
    with _client(gw) as client:
        docs = client.embed(model, PASSAGES)
        query = client.embed(model, QUERY)
    assert docs["object"] == "list" and docs["model"] == model
    assert [row["index"] for row in docs["data"]] == [0, 1, 2, 3]
    assert all(row["object"] == "embedding" for row in docs["data"])
    assert docs["usage"]["prompt_tokens"] == docs["usage"]["total_tokens"] > 0
    (q,) = [row["embedding"] for row in query["data"]]
    scores = [_dot(q, row["embedding"]) for row in docs["data"]]
    assert scores.index(max(scores)) == 1  # the panda passage


def test_rerank_in_every_mode_that_serves_it(gw: FakeGateway) -> None:
    model = MODELS[gw.mode][1]
    with _client(gw) as client:
        if model is None:  # zhipu, ollama: no rerank endpoint documented
            with pytest.raises(ConfigurationError, match="no rerank endpoint"):
                client.rerank("any-reranker", QUERY, PASSAGES)
            assert gw.requests == []
            return
        result = client.rerank(model, QUERY, PASSAGES, top_n=2)
    assert [r["index"] for r in result["results"]][0] == 1
    assert len(result["results"]) == 2
    assert result["results"][0]["document"] == PASSAGES[1]
    scores = [r["relevance_score"] for r in result["results"]]
    assert scores == sorted(scores, reverse=True)
    assert result["usage"]["total_tokens"] > 0 and result["model"] == model
    expected = {
        "dashscope": "/compatible-api/v1/reranks",
        "siliconflow": "/v1/rerank",
        "vllm": "/v1/rerank",
    }
    assert gw.requests[-1].path == expected[gw.mode]
    assert gw.requests[-1].body["top_n"] == 2


_SCORES = [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.2}]
_WITH_TEXT = [
    {"index": 0, "relevance_score": 0.2, "document": {"text": "a"}},
    {"index": 1, "relevance_score": 0.9, "document": {"text": "b"}},
]
WIRE_SHAPES = {
    "compatible": ({"results": _SCORES}, 0),  # DashScope compatible-api: usage UNSURE
    "dashscope-native": (
        {"output": {"results": _WITH_TEXT}, "usage": {"total_tokens": 7}, "request_id": "r"},
        7,
    ),
    "siliconflow-meta": (
        {
            "id": "rerank-1",
            "results": _SCORES,
            "meta": {"tokens": {"input_tokens": 5, "output_tokens": 2}},
        },
        7,
    ),
    "siliconflow-top": ({"results": _SCORES, "tokens": {"input_tokens": 7, "output_tokens": 0}}, 7),
    "vllm": (
        {"id": "rerank-x", "model": "m", "usage": {"total_tokens": 7}, "results": _WITH_TEXT},
        7,
    ),
}


@pytest.mark.parametrize("shape", list(WIRE_SHAPES))
def test_every_rerank_wire_shape_folds_into_one(shape: str) -> None:
    reply, tokens = WIRE_SHAPES[shape]
    plan = plan_rerank(get_provider("vllm"), "m", "q", ["a", "b"])
    result = plan.merge([reply])
    assert result["results"] == [
        {"index": 1, "relevance_score": 0.9, "document": "b"},
        {"index": 0, "relevance_score": 0.2, "document": "a"},
    ]
    assert result["usage"]["total_tokens"] == tokens


# ---------------------------------------------------------------- batching


@pytest.fixture
def dashscope() -> Iterator[FakeGateway]:
    with FakeGateway(mode="dashscope", api_key=SECRET, latency=0.1) as gateway:
        yield gateway


def _rows(gw: FakeGateway) -> list[int]:
    return [len(r.body["input"]) for r in gw.requests if r.path == "/v1/embeddings"]


def test_sync_batches_never_pass_the_cap_keep_order_and_overlap(dashscope: FakeGateway) -> None:
    texts = [f"第{i}段文字" for i in range(95)]
    progress: list[tuple[int, int]] = []
    with _client(dashscope) as client:
        result = client.embed(
            "text-embedding-v4",
            texts,
            dimensions=64,
            on_progress=lambda d, t: progress.append((d, t)),
        )
        single = client.embed("text-embedding-v4", texts[37], dimensions=64)
    rows = _rows(dashscope)
    assert max(rows) == 10 and sum(rows[:-1]) == 95 and len(rows) == 11
    assert [row["index"] for row in result["data"]] == list(range(95))
    assert result["data"][37]["embedding"] == single["data"][0]["embedding"]  # order kept
    assert dashscope.max_in_flight > 1
    assert progress[-1] == (95, 95) and len(progress) == 10
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert result["usage"]["total_tokens"] == sum(count_tokens(t) for t in texts)
    assert result["usage"]["cost"] == pytest.approx(result["usage"]["total_tokens"] * 0.072e-6)


async def test_async_batches_never_pass_the_cap_keep_order_and_overlap(
    dashscope: FakeGateway,
) -> None:
    texts = [f"第{i}段文字" for i in range(95)]
    async with _async_client(dashscope) as client:
        result = await client.embed("text-embedding-v4", texts, max_concurrency=3)
        single = await client.embed("text-embedding-v4", texts[58])
    rows = _rows(dashscope)
    assert max(rows) == 10 and sum(rows[:-1]) == 95
    assert [row["index"] for row in result["data"]] == list(range(95))
    assert result["data"][58]["embedding"] == single["data"][0]["embedding"]
    assert dashscope.max_in_flight == 3  # bounded, and overlapping


def test_sync_concurrency_is_bounded(dashscope: FakeGateway) -> None:
    with _client(dashscope) as client:
        client.embed("text-embedding-v4", ["字"] * 60, max_concurrency=2)
    assert dashscope.max_in_flight == 2


def test_a_failing_batch_is_retried_alone(dashscope: FakeGateway) -> None:
    dashscope.push(Fault.status(503))
    with _client(dashscope) as client:
        result = client.embed("text-embedding-v4", [f"文{i}" for i in range(30)], max_concurrency=1)
    assert len(result["data"]) == 30
    assert _rows(dashscope) == [10, 10, 10, 10]  # one batch sent twice


def test_the_servers_batch_refusal_is_a_bad_request(dashscope: FakeGateway) -> None:
    """11 rows posted by hand (embed never sends them): DashScope's 400 body, a BadRequestError."""
    with (
        _client(dashscope) as client,
        pytest.raises(BadRequestError, match="batch size is invalid"),
    ):
        client._transport.post("/embeddings", {"model": "text-embedding-v4", "input": ["a"] * 11})


def test_rerank_over_the_document_cap_is_split_and_merged(dashscope: FakeGateway) -> None:
    docs = [f"无关文本{i}" for i in range(1200)] + ["大熊猫吃竹子"]
    with _client(dashscope) as client:
        result = client.rerank("qwen3-rerank", "熊猫吃竹子吗", docs, top_n=3)
    sizes = [len(r.body["documents"]) for r in dashscope.requests]
    assert sorted(sizes) == [201, 500, 500]  # sent at once: any arrival order
    assert all("top_n" not in r.body for r in dashscope.requests)  # cut after the merge
    assert result["results"][0] == {
        "index": 1200,
        "relevance_score": result["results"][0]["relevance_score"],
        "document": "大熊猫吃竹子",
    }
    assert len(result["results"]) == 3


def test_rerank_requests_stay_within_the_token_budget(dashscope: FakeGateway) -> None:
    """gte-rerank-v2 takes 30,000 tokens a request (query x documents + documents)."""
    docs = ["竹" * 600 for _ in range(99)] + ["大熊猫吃竹子"]
    with _client(dashscope) as client:
        result = client.rerank("gte-rerank-v2", "熊猫吃什么", docs, top_n=1)
    sizes = [len(r.body["documents"]) for r in dashscope.requests]
    assert len(sizes) > 1 and sum(sizes) == 100
    for request in dashscope.requests:
        body = request.body
        tokens = sum(count_tokens(body["query"]) + count_tokens(d) for d in body["documents"])
        assert tokens <= 30_000
    assert result["results"][0]["index"] == 99


def test_the_emulator_refuses_a_rerank_over_the_token_budget(dashscope: FakeGateway) -> None:
    body = {"model": "gte-rerank-v2", "query": "熊猫", "documents": ["竹" * 600] * 60}
    with _client(dashscope) as client, pytest.raises(BadRequestError, match="exceed the limit"):
        client._transport.post("/../../compatible-api/v1/reranks", body)


async def test_async_rerank(dashscope: FakeGateway) -> None:
    async with _async_client(dashscope) as client:
        result = await client.rerank("gte-rerank-v2", QUERY, PASSAGES)
    assert [r["index"] for r in result["results"]][0] == 1
    assert len(result["results"]) == len(PASSAGES)
    assert result["usage"]["cost"] == pytest.approx(result["usage"]["total_tokens"] * 0.115e-6)


# ---------------------------------------------------------------- bad input, before any I/O


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("text-embedding-v4", ""), {}, r"input\[0\] is an empty string"),
        (("text-embedding-v4", ["ok", 3]), {}, r"input\[1\] is a int"),
        (("text-embedding-v4", None), {}, "must be a string or a list"),
        (("text-embedding-v4", "hi"), {"dimensions": 100}, "accepts dimensions 2048, 1536"),
        (("text-embedding-v4", "hi"), {"dimensions": True}, "positive integer"),
        (("text-embedding-v4", "hi"), {"input_type": "passage"}, "input_type"),
        (("text-embedding-v4", "hi"), {"encoding_format": "base64"}, "encoding_format"),
        (("text-embedding-v4", "hi"), {"max_concurrency": 0}, "max_concurrency"),
        (("qwen-plus", "hi"), {}, "is a chat model, not a embedding model"),
        (("", "hi"), {}, "model must be"),
        (("text-embedding-v4", "hi"), {"provider": "zhipu"}, "provider is set per client"),
    ],
)
def test_bad_embed_input_is_refused_before_any_request(
    dashscope: FakeGateway, args: tuple, kwargs: dict, match: str
) -> None:
    with _client(dashscope) as client, pytest.raises(InvalidRequestError, match=match):
        client.embed(*args, **kwargs)
    assert dashscope.requests == []


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("qwen3-rerank", "q", []), {}, "at least one document"),
        (("qwen3-rerank", "q", ["a", ""]), {}, r"documents\[1\] is an empty string"),
        (("qwen3-rerank", "q", ["a", None]), {}, r"documents\[1\] is a NoneType"),
        (("qwen3-rerank", "q", "just one string"), {}, None),  # a str is one document: allowed
        (("qwen3-rerank", "", ["a"]), {}, "query must be"),
        (("qwen3-rerank", "q", ["a"]), {"top_n": 0}, "top_n must be"),
        (("text-embedding-v4", "q", ["a"]), {}, "is a embedding model, not a rerank model"),
    ],
)
async def test_bad_rerank_input_is_refused_before_any_request(
    dashscope: FakeGateway, args: tuple, kwargs: dict, match: str | None
) -> None:
    async with _async_client(dashscope) as client:
        if match is None:
            result = await client.rerank(*args, **kwargs)
            assert result["results"][0]["document"] == "just one string"
            return
        with pytest.raises(InvalidRequestError, match=match):
            await client.rerank(*args, **kwargs)
    assert dashscope.requests == []


def test_empty_input_sends_nothing(dashscope: FakeGateway) -> None:
    progress: list[tuple[int, int]] = []
    with _client(dashscope) as client:
        result = client.embed("text-embedding-v4", [], on_progress=lambda *a: progress.append(a))
    assert result["data"] == [] and result["usage"]["total_tokens"] == 0
    assert dashscope.requests == [] and progress == []


def test_the_aisa_gateway_refuses_embeddings_and_names_the_providers(
    fake_gateway: FakeGateway,
) -> None:
    with CNLLMClient(api_key=fake_gateway.api_key, base_url=fake_gateway.base_url) as client:
        with pytest.raises(ConfigurationError, match=r"provider='dashscope'"):
            client.embed("text-embedding-v4", "你好")
        with pytest.raises(ConfigurationError, match="Providers that serve it: siliconflow;"):
            client.rerank("BAAI/bge-reranker-v2-m3", "q", ["a"])
        with pytest.raises(ConfigurationError, match="with a rerank endpoint: dashscope, "):
            client.rerank("my-own-reranker", "q", ["a"])
    assert fake_gateway.requests == []


def test_a_fixed_size_model_is_not_sent_dimensions() -> None:
    with FakeGateway(mode="siliconflow", api_key=SECRET) as gw, _client(gw) as client:
        result = client.embed("BAAI/bge-m3", "你好", dimensions=1024)
        client.embed("Qwen/Qwen3-Embedding-4B", "你好", dimensions=256)
    assert "dimensions" not in gw.requests[0].body
    assert gw.requests[1].body["dimensions"] == 256
    assert len(result["data"][0]["embedding"]) == 1024


# ---------------------------------------------------------------- query form, meter, secrets


def test_query_form_is_applied_only_to_queries() -> None:
    with FakeGateway(mode="siliconflow", api_key=SECRET) as gw, _client(gw) as client:
        client.embed("Qwen/Qwen3-Embedding-8B", ["熊猫"], input_type="query")
        client.embed("Qwen/Qwen3-Embedding-8B", ["熊猫"], input_type="document")
        client.embed("BAAI/bge-m3", ["熊猫"], input_type="query")
    inputs = [r.body["input"][0] for r in gw.requests]
    assert inputs[0] == query_text("Qwen/Qwen3-Embedding-8B", "熊猫")
    assert inputs[0].startswith("Instruct: ") and inputs[0].endswith("\nQuery:熊猫")
    assert inputs[1:] == ["熊猫", "熊猫"]


def test_the_meter_is_charged_per_batch(dashscope: FakeGateway) -> None:
    meter = CostMeter()
    with _client(dashscope, meter=meter) as client:
        result = client.embed("text-embedding-v4", ["字"] * 25)
    assert meter.calls == 3
    assert meter.cost_usd == pytest.approx(result["usage"]["cost"])
    assert meter.prompt_tokens == result["usage"]["prompt_tokens"] == 25


def test_the_key_is_in_no_repr_error_or_log(
    dashscope: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dashscope.push(Fault.status(400))
    with _client(dashscope, max_retries=0) as client:
        with pytest.raises(BadRequestError) as info:
            client.embed("text-embedding-v4", "你好")
        texts = [repr(client), str(info.value), repr(info.value), caplog.text]
        plan = client._plan(plan_embed, "text-embedding-v4", ["a"])
    texts.append(repr(plan))
    assert all(SECRET not in text for text in texts)
    assert all(r.headers.get("authorization") == "REDACTED" for r in dashscope.requests)


# ---------------------------------------------------------------- server errors


async def test_server_errors_map_to_the_existing_classes() -> None:
    with FakeGateway(mode="siliconflow", api_key=SECRET) as gw:
        wrong_key = CNLLMClient(api_key="sk-wrong", base_url=gw.base_url, provider="siliconflow")
        with wrong_key, pytest.raises(AuthenticationError):
            wrong_key.embed("BAAI/bge-m3", ["你好"] * 3)
        async with _async_client(gw) as client:
            with pytest.raises(ModelNotFoundError):  # the catalog does not know it: passed through
                await client.embed("BAAI/bge-m9", "你好")
            gw.push(Fault.status(400))
            with pytest.raises(BadRequestError):
                await client.rerank("BAAI/bge-reranker-v2-m3", "q", ["a"])
            gw.push(Fault.status(429, retry_after=0.01))
            result = await client.rerank("BAAI/bge-reranker-v2-m3", "q", ["a"])  # retried
    assert result["results"][0]["index"] == 0


async def test_ten_thousand_texts_never_pass_the_cap() -> None:
    texts = [f"文本{i}" for i in range(10_000)]
    with FakeGateway(mode="zhipu", api_key=SECRET) as gw:
        async with _async_client(gw) as client:
            result = await client.embed("embedding-3", texts, dimensions=256)
        rows = [len(r.body["input"]) for r in gw.requests]
        firsts = sorted(r.body["input"][0] for r in gw.requests)
    assert max(rows) == 64 and sum(rows) == 10_000 and len(rows) == 157
    assert firsts == sorted(texts[i] for i in range(0, 10_000, 64))  # contiguous slices
    assert [row["index"] for row in result["data"]] == list(range(10_000))
    for i in (0, 63, 64, 5_000, 9_999):  # each vector is its own text's
        assert result["data"][i]["embedding"] == vector(texts[i], 256)
    assert result["usage"]["prompt_tokens"] == sum(count_tokens(t) for t in texts)


def test_a_text_over_the_models_token_limit_is_the_servers_400(dashscope: FakeGateway) -> None:
    """The core cannot count a provider's tokens, so an over-long text goes out and the
    server's refusal (8,192 tokens a text on text-embedding-v4) comes back as BadRequestError."""
    with _client(dashscope, max_retries=0) as client:
        with pytest.raises(BadRequestError, match="more than 8192 per text"):
            client.embed("text-embedding-v4", ["短", "长" * 8193])
        assert len(client.embed("text-embedding-v4", ["长" * 8192])["data"]) == 1
