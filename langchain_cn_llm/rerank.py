"""CNLLMRerank: Chinese rerank models (qwen3-rerank, gte-rerank-v2, bge-reranker) in LangChain.

This module only translates: Documents → ``CNLLMClient.rerank`` (one result shape whatever the
provider's wire format) → the same Documents, best first, scored in their metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import Field

from cn_llm_client.types import RerankResponse
from langchain_cn_llm._connection import CoreConnection

__all__ = ["CNLLMRerank"]


class CNLLMRerank(CoreConnection, BaseDocumentCompressor):
    """A rerank model as a LangChain document compressor: the ``top_n`` most relevant documents.

    Each returned Document is a copy of the input one with ``metadata["relevance_score"]`` added,
    highest score first. Offline, against the bundled gateway emulator:

        >>> from langchain_core.documents import Document
        >>> from cn_llm_client.testing import FakeGateway
        >>> from langchain_cn_llm import CNLLMRerank
        >>> docs = [Document("大熊猫主要吃竹子。"), Document("龙井茶产自杭州西湖。")]
        >>> with FakeGateway(mode="dashscope") as gw:
        ...     rerank = CNLLMRerank(model="qwen3-rerank", provider="dashscope", top_n=1,
        ...                          base_url=gw.base_url, api_key=gw.api_key)
        ...     best = rerank.compress_documents(docs, "龙井茶产自哪里？")
        >>> [d.page_content for d in best], best[0].metadata["relevance_score"] > 0
        (['龙井茶产自杭州西湖。'], True)

    In a pipeline: ``retriever | RunnableLambda(lambda docs: ...)`` or LangChain's
    ``ContextualCompressionRetriever(base_compressor=rerank, base_retriever=retriever)``.
    No documents in, none out (and no request); ``top_n`` below 1 is refused at construction.
    """

    model: str = "qwen3-rerank"
    """Rerank model id (``cn-llm models`` lists them, with the providers that serve them)."""
    top_n: int | None = Field(default=3, ge=1)
    """How many documents to keep, best first; None: all of them, reordered."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra request body parameters (e.g. DashScope's ``{"instruct": "..."}``)."""

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        texts = [doc.page_content for doc in documents]
        response = self._sync_client().rerank(
            self.model, query, texts, top_n=self.top_n, **self.model_kwargs
        )
        return _ranked(documents, response)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        texts = [doc.page_content for doc in documents]
        response = await self._async_client().rerank(
            self.model, query, texts, top_n=self.top_n, **self.model_kwargs
        )
        return _ranked(documents, response)


def _ranked(documents: Sequence[Document], response: RerankResponse) -> list[Document]:
    """The core's results (best first) as copies of the input documents, scores in metadata."""
    ranked = []
    for result in response["results"]:
        doc = documents[result["index"]]
        metadata = {**doc.metadata, "relevance_score": result["relevance_score"]}
        ranked.append(Document(page_content=doc.page_content, metadata=metadata, id=doc.id))
    return ranked
