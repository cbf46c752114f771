"""The one connection mechanism (cn_llm_client.connected.ConnectedModel) in every adapter class:
settings resolved and checked at construction, copies with new settings resolve and use them.
(Copies' clients and meters, pickles and secrecy per class: tests/langchain, tests/llama_index.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cn_llm_client.errors import ConfigurationError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM, CNLLMEmbeddings
from langchain_cn_llm import CNLLMRerank as LangChainRerank
from llama_index_cn_llm import CNLLM, CNLLMEmbedding
from llama_index_cn_llm import CNLLMRerank as LlamaIndexRerank

Make = Callable[..., Any]

CHAT_CLASSES = [
    pytest.param(lambda **f: ChatCNLLM(model="deepseek-chat", **f), id="ChatCNLLM"),
    pytest.param(lambda **f: CNLLM(model="deepseek-chat", **f), id="CNLLM"),
]
RAG_CLASSES = [
    pytest.param(lambda **f: CNLLMEmbeddings(model="text-embedding-v4", **f), id="CNLLMEmbeddings"),
    pytest.param(lambda **f: LangChainRerank(model="qwen3-rerank", **f), id="langchain-rerank"),
    pytest.param(lambda **f: CNLLMEmbedding(model="text-embedding-v4", **f), id="CNLLMEmbedding"),
    pytest.param(lambda **f: LlamaIndexRerank(model="qwen3-rerank", **f), id="llama-index-rerank"),
]


@pytest.fixture
def other_gateway() -> Iterator[FakeGateway]:
    with FakeGateway(mode="dashscope", api_key="other-key") as gateway:
        yield gateway


@pytest.mark.parametrize("make", CHAT_CLASSES)
def test_a_copy_with_a_new_provider_resolves_that_providers_url_and_key(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AISA_BASE_URL", raising=False)
    monkeypatch.setenv("AISA_API_KEY", "sk-aisa")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek")
    original = make()
    moved = original.model_copy(update={"provider": "deepseek"})
    assert moved.base_url == "https://api.deepseek.com"
    assert moved._sync_client().base_url == "https://api.deepseek.com"
    assert moved.api_key.get_secret_value() == "sk-deepseek"
    assert original.base_url == "https://api.aisa.one/v1"
    assert original.api_key.get_secret_value() == "sk-aisa"
    # a URL or key the caller gave is kept by the copy
    given = make(base_url="https://proxy.example.com/v1", api_key="sk-given")
    kept = given.model_copy(update={"provider": "deepseek"})
    assert kept.base_url == "https://proxy.example.com/v1"
    assert kept.api_key.get_secret_value() == "sk-given"


@pytest.mark.parametrize("make", RAG_CLASSES)
def test_rag_settings_are_resolved_and_checked_at_construction(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    monkeypatch.delenv("SILICONFLOW_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="DASHSCOPE_API_KEY"):
        make(provider="dashscope")
    # loopback servers and keyless providers need no key, as in the core
    assert make(provider="vllm", base_url="http://127.0.0.1:8000/v1").api_key is None
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dashscope")
    monkeypatch.setenv("SILICONFLOW_API_KEY", "sk-siliconflow")
    original = make(provider="dashscope")
    assert original.base_url == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert original.api_key.get_secret_value() == "sk-dashscope"
    moved = original.model_copy(update={"provider": "siliconflow"})
    assert moved.base_url == "https://api.siliconflow.cn/v1"
    assert moved.api_key.get_secret_value() == "sk-siliconflow"


@pytest.mark.parametrize("make", RAG_CLASSES)
def test_a_rag_copy_with_a_new_url_and_key_uses_them(
    make: Make, fake_gateway: FakeGateway, other_gateway: FakeGateway
) -> None:
    original = make(provider="dashscope", base_url=fake_gateway.base_url, api_key="sk-old")
    moved = original.model_copy(
        update={"base_url": other_gateway.base_url, "api_key": other_gateway.api_key}
    )
    assert moved.api_key.get_secret_value() == other_gateway.api_key
    assert moved._sync_client().base_url == other_gateway.base_url
    assert original._sync_client().base_url == fake_gateway.base_url
    assert original.api_key.get_secret_value() == "sk-old"
