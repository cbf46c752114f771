"""CNLLMRerank against the offline gateway: in a retriever pipeline, sync and async, bad input."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.load import dumps
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import ValidationError

from cn_llm_client import CNLLMClient
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import CNLLMEmbeddings, CNLLMRerank

Connection = Callable[[FakeGateway], dict[str, Any]]
SECRET = "sk-rerank-" + "r" * 24
Corpus = tuple[tuple[str, ...], dict[str, int]]


def rerank_requests(gw: FakeGateway) -> list[Any]:
    return [r for r in gw.requests if r.path.endswith("/reranks")]


def test_in_a_retriever_pipeline_the_right_passage_comes_first(
    connection: Connection, gw: FakeGateway, rag_corpus: Corpus
) -> None:
    passages, questions = rag_corpus
    store = InMemoryVectorStore.from_documents(
        [Document(p, metadata={"n": i}) for i, p in enumerate(passages)],
        CNLLMEmbeddings(model="text-embedding-v4", **connection(gw)),
    )
    rerank = CNLLMRerank(model="qwen3-rerank", top_n=2, **connection(gw))
    assert isinstance(rerank, BaseDocumentCompressor)
    retrieve_then_rerank = RunnableParallel(
        docs=store.as_retriever(search_kwargs={"k": 5}), query=RunnablePassthrough()
    ) | RunnableLambda(lambda x: rerank.compress_documents(x["docs"], x["query"]))
    for question, answer in questions.items():
        docs = retrieve_then_rerank.invoke(question)
        assert [d.page_content for d in docs][0] == passages[answer], question
        assert len(docs) == 2 and docs[0].metadata["n"] == answer
        scores = [d.metadata["relevance_score"] for d in docs]
        assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    sent = rerank_requests(gw)[-1].body
    assert (sent["model"], sent["top_n"], len(sent["documents"])) == ("qwen3-rerank", 2, 5)


async def test_async_reranks_natively_and_leaves_the_inputs_alone(
    connection: Connection, gw: FakeGateway, rag_corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    passages, questions = rag_corpus
    docs = [Document(p, metadata={"n": i}) for i, p in enumerate(passages)]
    rerank = CNLLMRerank(model="qwen3-rerank", top_n=None, **connection(gw))

    def no_sync(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the async path used the sync client")

    monkeypatch.setattr(CNLLMClient, "rerank", no_sync)
    ranked = await rerank.acompress_documents(docs, "乌龙茶属于哪一类茶？")
    assert len(ranked) == len(passages)  # top_n=None: all of them, reordered
    assert ranked[0].page_content == passages[questions["乌龙茶属于哪一类茶？"]]
    assert all("relevance_score" not in d.metadata for d in docs)
    await rerank.aclose()


def test_no_documents_no_request(connection: Connection, gw: FakeGateway) -> None:
    assert CNLLMRerank(**connection(gw)).compress_documents([], "乌龙茶？") == []
    assert gw.requests == []


def test_top_n_below_one_is_refused_at_construction() -> None:
    with pytest.raises(ValidationError, match="top_n"):
        CNLLMRerank(model="qwen3-rerank", provider="dashscope", top_n=0)


def test_an_empty_query_is_refused_before_any_request(
    connection: Connection, gw: FakeGateway
) -> None:
    from cn_llm_client.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="query"):
        CNLLMRerank(**connection(gw)).compress_documents([Document("好")], "")
    assert gw.requests == []


def test_the_key_is_in_no_repr_pickle_dump_or_error(gw: FakeGateway) -> None:
    rerank = CNLLMRerank(provider="dashscope", base_url=gw.base_url, api_key=SECRET)
    with pytest.raises(Exception) as caught:
        rerank.compress_documents([Document("好")], "好吗")
    for text in (repr(rerank), str(caught.value), dumps(rerank)):
        assert SECRET not in text
    assert SECRET.encode() not in pickle.dumps(rerank)
