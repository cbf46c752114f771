"""The emulator's embeddings and rerank endpoints on the wire: shapes, meaning, refusals."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from cn_llm_client.testing import FakeGateway
from cn_llm_client.testing._embeddings import relevance, vector

DASHSCOPE_BATCH_400 = {
    "message": "<400> InternalError.Algo.InvalidParameter: Value error, batch size is invalid, "
    "it should not be larger than 10.: input.contents",
    "type": "InvalidParameter",
    "param": None,
    "code": "InvalidParameter",
}


def post(gw: FakeGateway, path: str, body: Any) -> httpx.Response:
    root = gw.base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {gw.api_key}"}
    return httpx.post(root + path, json=body, headers=headers, timeout=10)


def test_vectors_are_deterministic_unit_length_and_sized() -> None:
    a = vector("今天天气很好", 128)
    assert a == vector("今天天气很好", 128) and len(a) == 128
    assert math.isclose(math.sqrt(sum(v * v for v in a)), 1.0, abs_tol=1e-4)
    assert len(vector("!!!", 64)) == 64 and any(vector("!!!", 64))  # no features: still a unit
    assert relevance("熊猫", "熊猫吃竹子") == 1.0 and relevance("熊猫", "长城") == 0.0


@pytest.mark.parametrize(
    ("mode", "rows", "status", "fragment"),
    [
        ("dashscope", 11, 400, "batch size is invalid"),
        ("zhipu", 65, 400, "at most 64"),
        ("siliconflow", 65, 413, "at most 64"),
    ],
)
def test_over_cap_batches_are_refused_as_the_server_does(
    mode: str, rows: int, status: int, fragment: str
) -> None:
    model = {"dashscope": "text-embedding-v4", "zhipu": "embedding-3", "siliconflow": "BAAI/bge-m3"}
    with FakeGateway(mode=mode) as gw:
        reply = post(gw, "/v1/embeddings", {"model": model[mode], "input": ["字"] * rows})
        ok = post(gw, "/v1/embeddings", {"model": model[mode], "input": ["字"] * (rows - 1)})
    assert reply.status_code == status and fragment in reply.text
    assert ok.status_code == 200 and len(ok.json()["data"]) == rows - 1
    if mode == "dashscope":
        assert reply.json()["error"] == DASHSCOPE_BATCH_400
        assert reply.json()["request_id"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "text-embedding-v4", "input": ["ok", ""]}, "input[1] must be a non-empty"),
        ({"model": "text-embedding-v4", "input": []}, "input must be a non-empty"),
        ({"model": "text-embedding-v4", "input": [1]}, "input[0] must be a non-empty"),
        ({"model": "text-embedding-v4", "input": "x", "dimensions": 100}, "dimensions must be"),
        ({"model": "text-embedding-v4", "input": "x", "encoding_format": "base64"}, "encoding"),
    ],
)
def test_bad_embedding_requests_are_refused(body: dict, fragment: str) -> None:
    with FakeGateway(mode="dashscope") as gw:
        reply = post(gw, "/v1/embeddings", body)
    assert reply.status_code == 400 and fragment in reply.json()["error"]["message"]
    assert reply.json()["error"]["code"] == "InvalidParameter"


def test_unknown_models_and_modes_without_the_endpoint() -> None:
    with FakeGateway(mode="dashscope") as gw:
        unknown = post(gw, "/v1/embeddings", {"model": "text-embedding-v9", "input": "x"})
        chat_model = post(gw, "/v1/embeddings", {"model": "qwen-plus", "input": "x"})
        sf_path = post(
            gw, "/v1/rerank", {"model": "qwen3-rerank", "query": "q", "documents": ["a"]}
        )
    assert unknown.status_code == 404 and "text-embedding-v4" in unknown.text
    assert chat_model.status_code == 404
    assert sf_path.status_code == 404  # dashscope reranks live under /compatible-api
    with FakeGateway(mode="aisa") as gw:
        assert post(gw, "/v1/embeddings", {"model": "m", "input": "x"}).status_code == 404
    with FakeGateway(mode="vllm") as gw:  # local servers serve whatever they loaded
        reply = post(gw, "/v1/embeddings", {"model": "my/any-model", "input": "x"})
        assert reply.status_code == 200 and len(reply.json()["data"][0]["embedding"]) == 1024


def test_the_dashscope_native_rerank_shape() -> None:
    body = {
        "model": "gte-rerank-v2",
        "input": {"query": "熊猫吃什么", "documents": ["长城", "熊猫吃竹子"]},
        "parameters": {"top_n": 1, "return_documents": True},
    }
    with FakeGateway(mode="dashscope") as gw:
        reply = post(gw, "/api/v1/services/rerank/text-rerank/text-rerank", body).json()
    (best,) = reply["output"]["results"]
    assert best["index"] == 1 and best["document"] == {"text": "熊猫吃竹子"}
    assert reply["usage"]["total_tokens"] > 0 and reply["request_id"]


def test_siliconflow_rerank_documents_only_on_request() -> None:
    body = {"model": "BAAI/bge-reranker-v2-m3", "query": "熊猫", "documents": ["熊猫", "长城"]}
    with FakeGateway(mode="siliconflow") as gw:
        plain = post(gw, "/v1/rerank", body).json()
        with_docs = post(gw, "/v1/rerank", {**body, "return_documents": True}).json()
        bad = post(gw, "/v1/rerank", {**body, "top_n": 0})
        empty = post(gw, "/v1/rerank", {**body, "documents": []})
    assert "document" not in plain["results"][0] and plain["meta"]["tokens"]["input_tokens"] > 0
    assert with_docs["results"][0]["document"] == {"text": "熊猫"}
    assert bad.status_code == 400 and empty.status_code == 400
    assert bad.json()["code"] == 20015  # SiliconFlow's top-level error shape


def test_requests_in_flight_are_counted_while_latency_holds_them() -> None:
    body = {"model": "text-embedding-v4", "input": ["字"]}
    with FakeGateway(mode="dashscope", latency=0.2) as gw, httpx.Client() as client:
        headers = {"Authorization": f"Bearer {gw.api_key}"}
        url = f"{gw.base_url}/embeddings"
        with ThreadPoolExecutor(4) as pool:
            replies = list(
                pool.map(lambda _: client.post(url, json=body, headers=headers), range(4))
            )
    assert [r.status_code for r in replies] == [200] * 4
    assert gw.max_in_flight == 4  # all four held by the latency at once
    assert [r.body["input"] for r in gw.requests] == [["字"]] * 4
