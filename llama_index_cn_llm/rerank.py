"""CNLLMRerank: Chinese rerank models (qwen3-rerank, gte-rerank-v2, bge-reranker) in LlamaIndex.

This module only translates: nodes → ``CNLLMClient.rerank`` (one result shape whatever the
provider's wire format) → the ``top_n`` nodes, best first, with the model's scores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.types import RerankResponse
from llama_index_cn_llm._connection import CoreConnection

__all__ = ["CNLLMRerank"]

dispatcher = get_dispatcher(__name__)


class CNLLMRerank(CoreConnection, BaseNodePostprocessor):
    """A rerank model as a LlamaIndex node postprocessor: the ``top_n`` most relevant nodes.

    Scores go into ``NodeWithScore.score`` (the retrieval score is replaced), highest first.
    Offline, against the bundled gateway emulator:

        >>> from llama_index.core.schema import NodeWithScore, TextNode
        >>> from cn_llm_client.testing import FakeGateway
        >>> from llama_index_cn_llm import CNLLMRerank
        >>> nodes = [NodeWithScore(node=TextNode(text=t), score=0.5)
        ...          for t in ("大熊猫主要吃竹子。", "龙井茶产自杭州西湖。")]
        >>> with FakeGateway(mode="dashscope") as gw:
        ...     rerank = CNLLMRerank(model="qwen3-rerank", provider="dashscope", top_n=1,
        ...                          base_url=gw.base_url, api_key=gw.api_key)
        ...     best = rerank.postprocess_nodes(nodes, query_str="龙井茶产自哪里？")
        >>> [n.node.get_content() for n in best], best[0].score > 0
        (['龙井茶产自杭州西湖。'], True)

    As a query engine's step: ``index.as_query_engine(similarity_top_k=10,
    node_postprocessors=[CNLLMRerank(model="qwen3-rerank", provider="dashscope", top_n=3)])``.
    No nodes in, none out (and no request).
    """

    model: str = Field(default="qwen3-rerank", description="Rerank model id.")
    top_n: int | None = Field(
        default=3, ge=1, description="How many nodes to keep, best first; None: all, reordered."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra request body parameters (e.g. instruct)."
    )

    @classmethod
    def class_name(cls) -> str:
        return "CNLLMRerank"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        query, texts = _request(nodes, query_bundle)
        with self._events(nodes, query_bundle) as finish:
            return finish(self._sync_client().rerank(self.model, query, texts, **self._params()))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        query, texts = _request(nodes, query_bundle)
        with self._events(nodes, query_bundle) as finish:
            client = self._async_client()
            return finish(await client.rerank(self.model, query, texts, **self._params()))

    def _params(self) -> dict[str, Any]:
        return dict(top_n=self.top_n, **self.additional_kwargs)  # a repeated top_n: TypeError

    @contextmanager
    def _events(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> Iterator[Callable[[RerankResponse], list[NodeWithScore]]]:
        """LlamaIndex's rerank events (instrumentation, then callbacks) around one call; yields
        the step that turns the core's response into the ranked nodes and ends the events."""
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n or len(nodes),
                model_name=self.model,
            )
        )
        payload: dict[str, Any] = {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query_bundle.query_str if query_bundle else None,
            EventPayload.TOP_K: self.top_n,
        }
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:

            def finish(response: RerankResponse) -> list[NodeWithScore]:
                ranked = _ranked(nodes, response)
                event.on_end(payload={EventPayload.NODES: ranked})
                dispatcher.event(ReRankEndEvent(nodes=ranked))
                return ranked

            yield finish


def _request(nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> tuple[str, list[str]]:
    if query_bundle is None:
        raise InvalidRequestError(
            "CNLLMRerank needs the query: postprocess_nodes(nodes, query_str=...) or a QueryBundle."
        )
    return query_bundle.query_str, [
        n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes
    ]


def _ranked(nodes: list[NodeWithScore], response: RerankResponse) -> list[NodeWithScore]:
    """The core's results (best first) as new NodeWithScore objects over the same nodes."""
    return [
        NodeWithScore(node=nodes[r["index"]].node, score=r["relevance_score"])
        for r in response["results"]
    ]
