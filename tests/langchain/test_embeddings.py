"""CNLLMEmbeddings against the offline gateway: batching, query form, async, bad input, secrecy."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.load import dumpd, dumps
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import SecretStr

from cn_llm_client import CNLLMClient
from cn_llm_client.errors import ConfigurationError, InvalidRequestError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import CNLLMEmbeddings

Connection = Callable[[FakeGateway], dict[str, Any]]
SECRET = "sk-embed-" + "s" * 24


def make(gw: FakeGateway, **fields: Any) -> CNLLMEmbeddings:
    fields.setdefault("model", "text-embedding-v4")
    fields.setdefault("provider", "dashscope")
    return CNLLMEmbeddings(base_url=gw.base_url, api_key=gw.api_key, **fields)


def embedding_rows(gw: FakeGateway) -> list[int]:
    return [len(r.body["input"]) for r in gw.requests if r.path.endswith("/embeddings")]


def test_documents_go_in_batches_of_the_cap_in_order(gw: FakeGateway) -> None:
    texts = [f"第{i}段：龙井茶产自杭州。" for i in range(25)]
    vectors = make(gw).embed_documents(texts)
    assert sorted(embedding_rows(gw)) == [5, 10, 10]  # sent concurrently: any order
    assert len(vectors) == 25
    # Order kept: each vector is the one that text gets on its own.
    alone = make(gw).embed_documents([texts[17]])
    assert vectors[17] == alone[0] and vectors[16] != alone[0]


async def test_async_documents_match_sync_and_never_use_the_sync_client(
    gw: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["乌龙茶属于半发酵茶。", "大熊猫吃竹子。", "长城很长。"] * 5
    embeddings = make(gw)
    expected = embeddings.embed_documents(texts)
    expected_query = embeddings.embed_query("乌龙茶是什么茶？")

    def no_sync(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the async path used the sync client")

    monkeypatch.setattr(CNLLMClient, "embed", no_sync)
    gw.reset()
    assert await embeddings.aembed_documents(texts) == expected
    assert await embeddings.aembed_query("乌龙茶是什么茶？") == expected_query
    assert sorted(embedding_rows(gw)) == [1, 5, 10]
    await embeddings.aclose()


def test_dimensions_are_sent_and_honoured(gw: FakeGateway) -> None:
    vectors = make(gw, dimensions=256).embed_documents(["你好"])
    assert len(vectors[0]) == 256
    assert gw.requests[-1].body["dimensions"] == 256


def test_query_form_only_for_queries(dashscope_gateway: FakeGateway) -> None:
    """Qwen3-Embedding wants its instruction before a query, not before documents."""
    with FakeGateway(mode="siliconflow") as sf:
        embeddings = make(sf, model="Qwen/Qwen3-Embedding-0.6B", provider="siliconflow")
        embeddings.embed_documents(["乌龙茶属于半发酵茶。"])
        embeddings.embed_query("乌龙茶是什么茶？")
        sent = [r.body["input"] for r in sf.requests]
    assert sent[0] == ["乌龙茶属于半发酵茶。"]
    assert sent[1][0].startswith("Instruct: ") and sent[1][0].endswith("\nQuery:乌龙茶是什么茶？")


def test_retrieval_in_a_vector_store_finds_the_right_passage(
    gw: FakeGateway, rag_corpus: tuple[tuple[str, ...], dict[str, int]]
) -> None:
    passages, questions = rag_corpus
    store = InMemoryVectorStore.from_texts(list(passages), make(gw))
    for question, answer in questions.items():
        best = store.similarity_search(question, k=1)[0]
        assert best.page_content == passages[answer], question


@pytest.mark.parametrize(
    ("texts", "fields", "match"),
    [
        (["好", ""], {}, "empty"),
        (["好"], {"dimensions": 100}, "dimensions"),
        ([123], {}, "str"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    gw: FakeGateway, texts: list[Any], fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        make(gw, **fields).embed_documents(texts)
    assert gw.requests == []


def test_no_texts_sends_nothing(gw: FakeGateway) -> None:
    assert make(gw).embed_documents([]) == []
    assert gw.requests == []


def test_the_aisa_gateway_is_refused_with_the_providers_that_serve_the_model() -> None:
    embeddings = CNLLMEmbeddings(model="text-embedding-v4", api_key=SECRET)
    with pytest.raises(ConfigurationError, match="dashscope"):
        embeddings.embed_query("你好")


def test_a_copy_with_new_settings_uses_them(gw: FakeGateway) -> None:
    with FakeGateway(mode="dashscope", api_key="other-key") as other:
        original = make(other)
        original.embed_query("你好")
        copy = original.model_copy(
            update={"base_url": gw.base_url, "api_key": SecretStr(gw.api_key or "")}
        )
        assert len(copy.embed_query("你好")) == 1024  # the model's default size
        original.embed_query("再见")
        assert (len(gw.requests), len(other.requests)) == (1, 2)


def test_the_key_is_in_no_repr_log_pickle_or_dump(
    gw: FakeGateway, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = CNLLMEmbeddings(
        model="text-embedding-v4", provider="dashscope", api_key=SECRET, base_url=gw.base_url
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as caught:
        embeddings.embed_query("你好")  # the emulator refuses the key: 401
    assert "401" in str(caught.value)
    for text in (
        repr(embeddings),
        str(embeddings),
        caplog.text,
        str(caught.value),
        dumps(embeddings),
    ):
        assert SECRET not in text
    assert SECRET.encode() not in pickle.dumps(embeddings)
    assert dumpd(embeddings)["kwargs"]["api_key"] == {
        "lc": 1,
        "type": "secret",
        "id": ["DASHSCOPE_API_KEY"],
    }
    monkeypatch.setenv("DASHSCOPE_API_KEY", gw.api_key or "")
    restored = pickle.loads(pickle.dumps(embeddings))  # reads the key from the environment
    assert len(restored.embed_query("你好")) == 1024


@pytest.mark.parametrize("module", ["langchain_cn_llm.embeddings", "langchain_cn_llm.rerank"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, module


def test_a_misspelt_argument_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="dimension"):
        CNLLMEmbeddings(model="text-embedding-v4", provider="dashscope", dimension=256)
