"""Scale-out: the models pickle without the key, and the Ray Data example keeps the key's limit.

The Ray tests run examples/ray_batch.py's pipeline on a local Ray (2 CPUs, loopback only)
against the offline gateway, which counts the requests it is answering at once. The driver's
environment holds no key: the workers get it only from ``runtime_env``, so a pipeline that
works proves the pickles travelled without it and the key arrived by the environment.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cn_llm_client import CNLLMClient, concurrency_limit, split_limit
from cn_llm_client.errors import AuthenticationError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM
from llama_index_cn_llm import CNLLM

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ray_batch.py"
KINDS = ("langchain", "llama-index", "client")
LIMIT = concurrency_limit("free")  # the offline gateway answers 429 past it, like AIsa


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("ray_batch", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ray_batch"] = module
    spec.loader.exec_module(module)
    return module


example = _load_example()


def make_llm(kind: str, gateway: FakeGateway) -> Any:
    """The model a user builds in the driver, with the key given explicitly."""
    settings = {"api_key": gateway.api_key, "base_url": gateway.base_url}
    if kind == "langchain":
        return ChatCNLLM(model=example.MODEL, **settings)
    if kind == "llama-index":
        return CNLLM(model=example.MODEL, **settings)
    return CNLLMClient(**settings)


def expected_answer(text: str) -> str:
    return f"[{example.MODEL}] 收到：{text}"  # the emulator's deterministic answer


# -- the limit's split ----------------------------------------------------------------------


def test_split_limit_keeps_workers_within_the_limit() -> None:
    assert [concurrency_limit(t) for t in ("free", "Starter", "growth")] == [5, 20, 50]
    for limit in (5, 20, 50):
        for workers in range(1, limit + 1):
            share = split_limit(limit, workers)
            assert share >= 1 and workers * share <= limit < workers * (share + 1)


def test_split_limit_refuses_what_cannot_fit() -> None:
    with pytest.raises(ValueError, match="at most 5 workers"):
        split_limit(5, workers=6)
    with pytest.raises(ValueError, match="free, starter, growth"):
        concurrency_limit("enterprise")


# -- pickling without the key -------------------------------------------------------------


def _cloudpickle_dumps(obj: Any) -> bytes:
    import cloudpickle  # comes with ray, in the test extra

    return bytes(cloudpickle.dumps(obj))


@pytest.mark.parametrize("dumps", [pickle.dumps, _cloudpickle_dumps], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("kind", KINDS)
def test_models_pickle_without_the_key(
    kind: str, dumps: Callable[[Any], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    monkeypatch.delenv("AISA_BASE_URL", raising=False)
    with FakeGateway(api_key=f"sk-pickle-{secrets.token_hex(8)}") as gw:
        llm = make_llm(kind, gw)
        assert example.ask(llm, "你好") == expected_answer("你好")
        data = dumps(llm)
        assert gw.api_key is not None and gw.api_key.encode() not in data

        with pytest.raises(AuthenticationError):  # the copy did not bring the key along
            example.ask(pickle.loads(data), "你好")

        monkeypatch.setenv("AISA_API_KEY", gw.api_key)
        copy = pickle.loads(data)
        assert example.ask(copy, "再见") == expected_answer("再见")
        assert gw.requests[-1].headers["authorization"] == "REDACTED"  # it did authenticate


# -- Ray Data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_gateway() -> Iterator[FakeGateway]:
    """A local Ray whose workers get the gateway's key from runtime_env only; the gateway."""
    # Ray's switches, read when it is imported: no usage report, listen on loopback only.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray  # the test extra has ray[data]: a missing Ray fails here, it is not skipped
    import ray.data  # noqa: F401

    ray.cloudpickle.register_pickle_by_value(example)  # workers cannot import examples/
    key = f"sk-ray-{secrets.token_hex(8)}"
    gateway = FakeGateway(latency=0.1, api_key=key, max_concurrency=LIMIT)
    with pytest.MonkeyPatch.context() as mp, gateway as gw:
        mp.delenv("AISA_API_KEY", raising=False)
        mp.delenv("AISA_BASE_URL", raising=False)
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            logging_level="warning",
            runtime_env={"env_vars": {"AISA_API_KEY": key}},
        )
        try:
            yield gw
        finally:
            ray.shutdown()


def run_pipeline(
    gw: FakeGateway, kind: str, rows: int, *, actors: int, per_actor: int
) -> list[dict]:
    """Classify ``rows`` titles on Ray; the gateway's records and peak start afresh."""
    import ray.data

    gw.reset()
    ds = ray.data.from_items(example.news_titles(rows))
    llm = make_llm(kind, gw)
    return list(example.classify(ds, llm, actors=actors, per_actor=per_actor).take_all())


def assert_every_row_once(rows: list[dict], count: int, gw: FakeGateway) -> None:
    assert sorted(int(row["id"]) for row in rows) == list(range(count))
    for row in rows:
        assert row["error"] == ""
        assert row["answer"] == expected_answer(row["text"])
        assert row["label"] == row["topic"]
    sent = sorted(r.body["messages"][-1]["content"] for r in gw.requests)
    assert sent == sorted(row["text"] for row in rows)  # each row asked once: no 429, no retry


def test_ray_pipeline_keeps_every_row_and_the_key_limit(ray_gateway: FakeGateway) -> None:
    actors, count = 2, 120
    rows = run_pipeline(
        ray_gateway, "langchain", count, actors=actors, per_actor=split_limit(LIMIT, actors)
    )
    assert_every_row_once(rows, count, ray_gateway)
    assert 1 <= ray_gateway.max_in_flight <= LIMIT


@pytest.mark.parametrize("kind", ["llama-index", "client"])
def test_ray_pipeline_with_cnllm_and_the_client(ray_gateway: FakeGateway, kind: str) -> None:
    rows = run_pipeline(ray_gateway, kind, 24, actors=1, per_actor=3)
    assert_every_row_once(rows, 24, ray_gateway)
    assert 1 <= ray_gateway.max_in_flight <= 3


def test_gateway_sees_an_oversized_pool(ray_gateway: FakeGateway) -> None:
    """The measure can fail: one actor allowed 8 requests at once goes past a limit of 5."""
    ray_gateway.latency, ray_gateway.max_concurrency = 0.5, None  # no 429s; 8 surely overlap
    try:
        rows = run_pipeline(ray_gateway, "client", 16, actors=1, per_actor=8)
    finally:
        ray_gateway.latency, ray_gateway.max_concurrency = 0.1, LIMIT
    assert_every_row_once(rows, 16, ray_gateway)
    assert ray_gateway.max_in_flight > LIMIT
