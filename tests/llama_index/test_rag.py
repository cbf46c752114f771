"""CNLLMEmbedding and CNLLMRerank against the offline gateway (DashScope mode): a VectorStoreIndex,
a query engine with the reranker as node postprocessor, batching, async, bad input, secrecy."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import ValidationError

from cn_llm_client import CNLLMClient
from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from llama_index_cn_llm import CNLLM, CNLLMEmbedding, CNLLMRerank

Connection = Callable[[FakeGateway], dict[str, Any]]
SECRET = "sk-li-rag-" + "k" * 24
Corpus = tuple[tuple[str, ...], dict[str, int]]


def embedding_rows(gw: FakeGateway) -> list[int]:
    return [len(r.body["input"]) for r in gw.requests if r.path.endswith("/embeddings")]


def index_of(passages: tuple[str, ...], settings: dict[str, Any]) -> VectorStoreIndex:
    docs = [Document(text=p, metadata={"n": i}) for i, p in enumerate(passages)]
    embed_model = CNLLMEmbedding(model="text-embedding-v4", dimensions=512, **settings)
    return VectorStoreIndex.from_documents(docs, embed_model=embed_model)


def test_query_engine_with_the_reranker_puts_the_right_passage_first(
    connection: Connection, gw: FakeGateway, rag_corpus: Corpus
) -> None:
    passages, questions = rag_corpus
    rerank = CNLLMRerank(model="qwen3-rerank", top_n=2, **connection(gw))
    assert isinstance(rerank, BaseNodePostprocessor)
    engine = index_of(passages, connection(gw)).as_query_engine(
        llm=CNLLM(model="qwen-plus", **connection(gw)),
        similarity_top_k=5,
        node_postprocessors=[rerank],
    )
    for question, answer in questions.items():
        response = engine.query(question)
        sources = response.source_nodes
        assert len(sources) == 2 and sources[0].node.metadata["n"] == answer, question
        assert sources[0].score is not None and sources[1].score is not None
        assert sources[0].score > sources[1].score
        assert str(response)  # the LLM answered from the retrieved context
    reranks = [r.body for r in gw.requests if r.path.endswith("/reranks")]
    assert len(reranks) == len(questions) and all(len(b["documents"]) == 5 for b in reranks)


async def test_async_query_engine_uses_the_async_client_only(
    connection: Connection, gw: FakeGateway, rag_corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    passages, questions = rag_corpus
    index = index_of(passages, connection(gw))

    def no_sync(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the async path used the sync client")

    monkeypatch.setattr(CNLLMClient, "embed", no_sync)
    monkeypatch.setattr(CNLLMClient, "rerank", no_sync)
    retriever = index.as_retriever(similarity_top_k=5)
    rerank = CNLLMRerank(model="qwen3-rerank", top_n=1, **connection(gw))
    for question, answer in questions.items():
        nodes = await retriever.aretrieve(question)
        best = await rerank.apostprocess_nodes(nodes, query_str=question)
        assert [n.node.metadata["n"] for n in best] == [answer], question
    await rerank.aclose()


def test_llama_index_hands_the_core_whole_batches(connection: Connection, gw: FakeGateway) -> None:
    """LlamaIndex splits texts by embed_batch_size before the core sees them: the default is
    large and a multiple of the cap, so every request but the last is full."""
    embed_model = CNLLMEmbedding(model="text-embedding-v4", dimensions=64, **connection(gw))
    assert isinstance(embed_model, BaseEmbedding) and embed_model.model_name == "text-embedding-v4"
    texts = [f"第{i}条" for i in range(2005)]
    vectors = embed_model.get_text_embedding_batch(texts)
    assert len(vectors) == 2005
    assert sorted(embedding_rows(gw), reverse=True) == [10] * 200 + [5]  # sent concurrently
    assert vectors[1999] == embed_model.get_text_embedding(texts[1999])  # order kept


def test_the_default_batch_size_is_a_multiple_of_every_cap() -> None:
    """What EMBED_BATCH_SIZE's docstring claims, checked against the catalog and the presets."""
    from cn_llm_client.catalog import list_models
    from cn_llm_client.providers import get_provider, provider_names
    from llama_index_cn_llm.embeddings import EMBED_BATCH_SIZE

    caps = {m.max_rows for m in list_models(kind="embedding") if m.max_rows}
    caps |= {get_provider(name).embedding_rows for name in provider_names()}
    assert caps and all(EMBED_BATCH_SIZE % cap == 0 for cap in caps), caps
    assert EMBED_BATCH_SIZE <= 2048  # LlamaIndex's own upper bound


async def test_async_batches_stay_within_the_providers_in_flight_limit(
    connection: Connection,
) -> None:
    """LlamaIndex gathers its chunks at once; the chunks take turns, so the in-flight limit of
    one core call (the provider's) is never multiplied by the number of chunks."""
    with FakeGateway(mode="dashscope", latency=0.02) as slow:
        embed_model = CNLLMEmbedding(
            model="text-embedding-v4", dimensions=64, embed_batch_size=100, **connection(slow)
        )
        vectors = await embed_model.aget_text_embedding_batch([f"第{i}条" for i in range(800)])
        peak = slow.max_in_flight
        await embed_model.aclose()
    assert len(vectors) == 800 and vectors[0] != vectors[1]
    assert 1 < peak <= 10  # 100 texts a chunk = 10 requests a core call, sent at once


def test_queries_use_the_models_query_form() -> None:
    with FakeGateway(mode="siliconflow") as sf:
        embed_model = CNLLMEmbedding(
            model="Qwen/Qwen3-Embedding-0.6B",
            provider="siliconflow",
            base_url=sf.base_url,
            api_key=sf.api_key,
        )
        embed_model.get_text_embedding("乌龙茶属于半发酵茶。")
        embed_model.get_query_embedding("乌龙茶是什么茶？")
        sent = [r.body["input"] for r in sf.requests]
    assert sent[0] == ["乌龙茶属于半发酵茶。"]
    assert sent[1][0].startswith("Instruct: ") and sent[1][0].endswith("\nQuery:乌龙茶是什么茶？")


def test_bad_input_is_refused_before_any_request(connection: Connection, gw: FakeGateway) -> None:
    embed_model = CNLLMEmbedding(model="text-embedding-v4", **connection(gw))
    with pytest.raises(InvalidRequestError, match="empty"):
        embed_model.get_text_embedding_batch(["好", ""])
    with pytest.raises(InvalidRequestError, match="dimensions"):
        CNLLMEmbedding(
            model="text-embedding-v4", dimensions=100, **connection(gw)
        ).get_query_embedding("好")
    rerank = CNLLMRerank(**connection(gw))
    with pytest.raises(InvalidRequestError, match="query"):
        rerank.postprocess_nodes([NodeWithScore(node=TextNode(text="好"))])
    assert rerank.postprocess_nodes([], query_str="好吗") == []
    with pytest.raises(ValidationError, match="top_n"):
        CNLLMRerank(top_n=0)
    assert gw.requests == []


def test_the_key_is_in_no_repr_dict_pickle_or_error(gw: FakeGateway) -> None:
    embed_model = CNLLMEmbedding(provider="dashscope", base_url=gw.base_url, api_key=SECRET)
    rerank = CNLLMRerank(provider="dashscope", base_url=gw.base_url, api_key=SECRET)
    with pytest.raises(Exception) as caught:
        embed_model.get_query_embedding("你好")  # the emulator refuses this key
    assert "401" in str(caught.value) and SECRET not in str(caught.value)
    for component in (embed_model, rerank):
        for text in (repr(component), str(component), component.to_json()):
            assert SECRET not in text
        assert SECRET.encode() not in pickle.dumps(component)
        copy = pickle.loads(pickle.dumps(component))
        assert copy.api_key is None and copy.model == component.model


@pytest.mark.parametrize("module", ["llama_index_cn_llm.embeddings", "llama_index_cn_llm.rerank"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, module


def test_reranking_reports_to_llama_index_callbacks(
    connection: Connection, gw: FakeGateway
) -> None:
    from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler

    debug = LlamaDebugHandler()
    rerank = CNLLMRerank(
        model="qwen3-rerank", top_n=1, callback_manager=CallbackManager([debug]), **connection(gw)
    )
    nodes = [NodeWithScore(node=TextNode(text=t)) for t in ("大熊猫吃竹子。", "乌龙茶是半发酵茶。")]
    best = rerank.postprocess_nodes(nodes, query_str="乌龙茶是什么茶？")
    start, end = debug.get_event_pairs(CBEventType.RERANKING)[0]
    assert start.payload is not None and start.payload["query_str"] == "乌龙茶是什么茶？"
    assert end.payload is not None and end.payload["nodes"] == best
    assert best[0].node.get_content() == "乌龙茶是半发酵茶。"


def test_a_misspelt_argument_is_refused_and_to_dict_round_trips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)  # to_dict holds no key: read it again
    with pytest.raises(ValidationError, match="dimension"):
        CNLLMEmbedding(model="text-embedding-v4", provider="dashscope", dimension=256)
    embed_model = CNLLMEmbedding(model="text-embedding-v4", provider="dashscope", dimensions=256)
    again = CNLLMEmbedding.from_dict(embed_model.to_dict())
    assert (again.model, again.provider, again.dimensions) == (
        "text-embedding-v4",
        "dashscope",
        256,
    )
    rerank = CNLLMRerank.from_dict(CNLLMRerank(provider="dashscope", top_n=2).to_dict())
    assert (rerank.model, rerank.top_n) == ("qwen3-rerank", 2)
