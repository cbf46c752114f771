"""CNLLMEmbeddings: Chinese embedding models (DashScope, SiliconFlow, Zhipu, vLLM, Ollama) in LangChain.

This module only translates: texts → ``CNLLMClient.embed`` (which owns batching to the model's
per-request cap, concurrency, retries, validation and errors) → lists of floats.
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import Field

from cn_llm_client.types import EmbeddingResponse
from langchain_cn_llm._connection import CoreConnection

__all__ = ["CNLLMEmbeddings"]


class CNLLMEmbeddings(CoreConnection, Embeddings):
    """Embedding models through cn-llm's core, as a LangChain ``Embeddings``.

    Setup: ``pip install "cn-llm[langchain]"`` and the provider's key, e.g.
    ``export DASHSCOPE_API_KEY=...``. Offline, against the bundled gateway emulator:

        >>> from cn_llm_client.testing import FakeGateway
        >>> from langchain_cn_llm import CNLLMEmbeddings
        >>> with FakeGateway(mode="dashscope") as gw:
        ...     embeddings = CNLLMEmbeddings(
        ...         model="text-embedding-v4", provider="dashscope", dimensions=256,
        ...         base_url=gw.base_url, api_key=gw.api_key,
        ...     )
        ...     vectors = embeddings.embed_documents(["龙井茶产自杭州。", "大熊猫吃竹子。"] * 8)
        ...     query = embeddings.embed_query("龙井茶产自哪里？")
        ...     rows = [len(r.body["input"]) for r in gw.requests]
        >>> len(vectors), len(vectors[0]), len(query), sorted(rows)  # at most 10 rows a request
        (16, 256, 256, [1, 6, 10])

    ``embed_documents`` sends every text in one core call: the core splits it into batches of the
    model's per-request cap (10 rows on DashScope), sends them concurrently and keeps the order,
    so 10,000 documents never make one over-cap request. ``embed_query`` uses the model's query
    form where it documents one (Qwen3-Embedding's instruction prefix); documents are sent as is.
    ``aembed_documents`` / ``aembed_query`` are natively async (one AsyncCNLLMClient).
    Bad input (an empty string, ``dimensions`` the model does not offer) raises
    ``InvalidRequestError`` before any request.
    """

    model: str = "text-embedding-v4"
    """Embedding model id (``cn-llm models`` lists them, with the providers that serve them)."""
    dimensions: int | None = None
    """Vector size, where the model offers several (text-embedding-v4: 64 to 2048); None: its default."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra request body parameters (e.g. ``{"encoding_format": "float"}``)."""

    def _params(self) -> dict[str, Any]:
        return {"dimensions": self.dimensions, **self.model_kwargs}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _vectors(self._sync_client().embed(self.model, list(texts), **self._params()))

    def embed_query(self, text: str) -> list[float]:
        response = self._sync_client().embed(
            self.model, [text], input_type="query", **self._params()
        )
        return _vectors(response)[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        response = await self._async_client().embed(self.model, list(texts), **self._params())
        return _vectors(response)

    async def aembed_query(self, text: str) -> list[float]:
        response = await self._async_client().embed(
            self.model, [text], input_type="query", **self._params()
        )
        return _vectors(response)[0]


def _vectors(response: EmbeddingResponse) -> list[list[float]]:
    return [row["embedding"] for row in sorted(response["data"], key=lambda row: row["index"])]
