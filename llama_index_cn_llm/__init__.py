"""CNLLM, CNLLMEmbedding and CNLLMRerank: LlamaIndex components over the cn-llm core.

>>> from llama_index_cn_llm import CNLLM
>>> CNLLM.class_name()
'CNLLM'

The names load on first use (PEP 562 ``__getattr__``): ``import llama_index_cn_llm`` costs almost
nothing, ``CNLLM`` costs what LlamaIndex's ``CustomLLM`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cn_llm_client._lazy import lazy_exports

if TYPE_CHECKING:
    from llama_index_cn_llm.base import (
        CNLLM,
        UNKNOWN_MODEL_CONTEXT_WINDOW,
        UNKNOWN_MODEL_NUM_OUTPUT,
    )
    from llama_index_cn_llm.embeddings import CNLLMEmbedding
    from llama_index_cn_llm.rerank import CNLLMRerank

__all__ = [
    "CNLLM",
    "CNLLMEmbedding",
    "CNLLMRerank",
    "UNKNOWN_MODEL_CONTEXT_WINDOW",
    "UNKNOWN_MODEL_NUM_OUTPUT",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CNLLM": "base",
        "CNLLMEmbedding": "embeddings",
        "CNLLMRerank": "rerank",
        "UNKNOWN_MODEL_CONTEXT_WINDOW": "base",
        "UNKNOWN_MODEL_NUM_OUTPUT": "base",
    },
    extra="llama-index",
    framework="llama_index",
)
