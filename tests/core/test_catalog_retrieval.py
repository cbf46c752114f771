"""The catalog's embedding and rerank entries and the presets' retrieval paths agree."""

from __future__ import annotations

import pytest

from cn_llm_client.catalog import cost_of, get_model, list_models, providers_serving
from cn_llm_client.providers import get_provider, provider_names

RETRIEVAL = list_models(kind="embedding") + list_models(kind="rerank")


def test_chat_callers_see_chat_models_only() -> None:
    assert all(m.kind == "chat" for m in list_models())
    assert {m.kind for m in list_models(kind=None)} == {"chat", "embedding", "rerank"}
    assert "text-embedding-v4" not in [m.id for m in list_models("dashscope")]


@pytest.mark.parametrize("model", RETRIEVAL, ids=lambda m: f"{m.provider}:{m.id}")
def test_every_retrieval_model_is_served_by_its_provider(model: object) -> None:
    from cn_llm_client.catalog import ModelInfo

    assert isinstance(model, ModelInfo)
    preset = get_provider(model.provider)
    path = preset.embeddings_path if model.kind == "embedding" else preset.rerank_path
    assert path is not None, f"{model.provider} has no {model.kind} path"
    assert not model.tools and not model.json_mode  # not chat models
    if model.kind == "embedding":
        assert model.dimensions and model.default_dimensions in model.dimensions
    if model.query_template:
        assert "{task}" in model.query_template and "{text}" in model.query_template
        assert model.query_task


def test_the_documented_caps_and_prices() -> None:
    v4 = get_model("text-embedding-v4")
    assert v4 is not None and (v4.max_rows, v4.default_dimensions) == (10, 1024)
    assert get_model("embedding-3").max_rows == 64  # type: ignore[union-attr]
    assert cost_of("qwen3-rerank", {"total_tokens": 1_000_000}) == pytest.approx(0.1)
    assert cost_of("text-embedding-v4", {"prompt_tokens": 1_000_000}) == pytest.approx(0.072)
    assert cost_of("BAAI/bge-m3", {"total_tokens": 10}) is None  # no documented price


def test_which_presets_serve_what() -> None:
    embeds = {p for p in provider_names() if get_provider(p).embeddings_path is not None}
    reranks = {p for p in provider_names() if get_provider(p).rerank_path is not None}
    assert {"aisa", "deepseek", "moonshot"}.isdisjoint(embeds)
    assert {"dashscope", "siliconflow", "zhipu", "vllm", "ollama"} <= embeds
    assert {"dashscope", "siliconflow", "vllm"} <= reranks
    assert get_provider("dashscope").rerank_path == "/../../compatible-api/v1/reranks"
    assert providers_serving("qwen3-rerank") == ["dashscope"]
    assert providers_serving("nope") == []


def test_the_dashscope_rerank_path_resolves_under_compatible_api() -> None:
    import httpx

    preset = get_provider("dashscope")
    for region in preset.regions:
        assert preset.rerank_path is not None
        url = httpx.URL(preset.url(region) + preset.rerank_path)
        assert url.path == "/compatible-api/v1/reranks"
        assert url.host == httpx.URL(preset.url(region)).host
