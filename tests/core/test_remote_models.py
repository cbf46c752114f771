"""The server's own model list (GET /models) and compare_models' per-model callback, on both
clients."""

from __future__ import annotations

import pytest

from cn_llm_client import AsyncCNLLMClient, CNLLMClient
from cn_llm_client.errors import APIStatusError
from cn_llm_client.testing import FakeGateway


def test_list_remote_models_is_the_servers_list() -> None:
    with FakeGateway(mode="dashscope", models=["qwen-next-preview"]) as gw:
        client = CNLLMClient(provider="dashscope", api_key=gw.api_key, base_url=gw.base_url)
        with client:
            served = client.list_remote_models()
        assert "qwen-plus" in served and served[-1] == "qwen-next-preview"
        assert (gw.requests[-1].method, gw.requests[-1].path) == ("GET", "/v1/models")


async def test_async_list_remote_models() -> None:
    with FakeGateway(mode="deepseek") as gw:
        async with AsyncCNLLMClient(
            provider="deepseek", api_key=gw.api_key, base_url=gw.base_url
        ) as client:
            assert await client.list_remote_models() == ["deepseek-chat", "deepseek-reasoner"]


def test_a_server_without_a_model_list_is_a_clear_error(fake_gateway: FakeGateway) -> None:
    from cn_llm_client.testing import Fault

    fake_gateway.push(Fault.status(404))
    client = CNLLMClient(api_key=fake_gateway.api_key, base_url=fake_gateway.base_url)
    with client, pytest.raises(APIStatusError) as info:
        client.list_remote_models()
    assert info.value.status_code == 404


def test_compare_models_reports_each_model_as_it_finishes(fake_gateway: FakeGateway) -> None:
    seen: list[tuple[str, str | None]] = []
    with CNLLMClient(api_key=fake_gateway.api_key, base_url=fake_gateway.base_url) as client:
        results = client.compare_models(
            ["qwen3-max", "nope-model"], "hi", on_result=lambda m, r: seen.append((m, r["error"]))
        )
    assert sorted(m for m, _ in seen) == ["nope-model", "qwen3-max"]
    assert dict(seen)["qwen3-max"] is None and dict(seen)["nope-model"]
    assert list(results["qwen3-max"]) == ["response", "usage", "cost", "latency_s", "error"]
    assert "on_result" not in fake_gateway.requests[-1].body  # the callback is not sent


async def test_async_compare_models_reports_each_model(fake_gateway: FakeGateway) -> None:
    seen: list[str] = []
    async with AsyncCNLLMClient(
        api_key=fake_gateway.api_key, base_url=fake_gateway.base_url
    ) as client:
        await client.compare_models(
            ["qwen3-max", "deepseek-v3"], "hi", on_result=lambda m, r: seen.append(m)
        )
    assert sorted(seen) == ["deepseek-v3", "qwen3-max"]
