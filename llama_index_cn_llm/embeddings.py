"""CNLLMEmbedding: Chinese embedding models (DashScope, SiliconFlow, Zhipu, vLLM, Ollama) in LlamaIndex.

This module only translates: texts → ``CNLLMClient.embed`` (which owns batching to the model's
per-request cap, concurrency, retries, validation and errors) → lists of floats.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr, model_validator
from typing_extensions import Self

from cn_llm_client.types import EmbeddingResponse
from llama_index_cn_llm._connection import CoreConnection

__all__ = ["EMBED_BATCH_SIZE", "CNLLMEmbedding"]

EMBED_BATCH_SIZE = 1920
"""How many texts LlamaIndex hands over per call. The core splits each call into the model's
per-request cap and sends those requests concurrently, so this only has to be large: 1920 is the
largest size LlamaIndex allows (2048) that is a multiple of every cap in the catalog (10, 32, 64),
so no call ends in a short request."""


class _LockPerLoop:
    """An asyncio.Lock for each running event loop; copies and pickles start with none."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def __deepcopy__(self, memo: dict[int, Any]) -> _LockPerLoop:
        return _LockPerLoop()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_LockPerLoop, ())


class CNLLMEmbedding(CoreConnection, BaseEmbedding):
    """Embedding models through cn-llm's core, as a LlamaIndex ``BaseEmbedding``.

    Offline, against the bundled gateway emulator:

        >>> from cn_llm_client.testing import FakeGateway
        >>> from llama_index_cn_llm import CNLLMEmbedding
        >>> with FakeGateway(mode="dashscope") as gw:
        ...     embed_model = CNLLMEmbedding(
        ...         model="text-embedding-v4", provider="dashscope", dimensions=256,
        ...         base_url=gw.base_url, api_key=gw.api_key,
        ...     )
        ...     vectors = embed_model.get_text_embedding_batch(["龙井茶产自杭州。"] * 12)
        ...     query = embed_model.get_query_embedding("龙井茶产自哪里？")
        ...     rows = [len(r.body["input"]) for r in gw.requests]
        >>> len(vectors), len(query), sorted(rows)  # at most 10 rows a request
        (12, 256, [1, 2, 10])

    ``Settings.embed_model = CNLLMEmbedding(model="text-embedding-v4", provider="dashscope")``
    (key from ``DASHSCOPE_API_KEY``) serves every index. Queries use the model's query form
    where it documents one (Qwen3-Embedding's instruction prefix); texts are sent as is.
    The ``_aget_*`` methods are natively async (one AsyncCNLLMClient, pooled per event loop).
    """

    model: str = Field(
        default="text-embedding-v4", description="Embedding model id, as the provider names it."
    )
    dimensions: int | None = Field(
        default=None, description="Vector size where the model offers several; None: its default."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra request body parameters sent on every call."
    )
    embed_batch_size: int = Field(
        default=EMBED_BATCH_SIZE, gt=0, le=2048, description="Texts per core call (see above)."
    )

    _one_call_at_a_time: _LockPerLoop = PrivateAttr(default_factory=_LockPerLoop)

    @model_validator(mode="after")
    def _name_the_model(self) -> Self:
        self.model_name = self.model  # what LlamaIndex shows in events and to_payload()
        return self

    @classmethod
    def class_name(cls) -> str:
        return "CNLLMEmbedding"

    def _params(self, query: bool) -> dict[str, Any]:
        return {
            "dimensions": self.dimensions,
            **self.additional_kwargs,
            "input_type": "query" if query else None,
        }

    def _get_query_embedding(self, query: str) -> Embedding:
        return _vectors(self._sync_client().embed(self.model, [query], **self._params(True)))[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        response = await self._async_client().embed(self.model, [query], **self._params(True))
        return _vectors(response)[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return _vectors(self._sync_client().embed(self.model, list(texts), **self._params(False)))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        # LlamaIndex gathers all its chunks at once; each core call already sends as many
        # requests as the provider allows in flight, so the chunks take turns.
        async with self._one_call_at_a_time():
            response = await self._async_client().embed(
                self.model, list(texts), **self._params(False)
            )
        return _vectors(response)


def _vectors(response: EmbeddingResponse) -> list[Embedding]:
    return [row["embedding"] for row in sorted(response["data"], key=lambda row: row["index"])]
