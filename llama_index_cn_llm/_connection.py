"""CoreConnection: the core's ConnectedModel with LlamaIndex's defaults.

CNLLM, CNLLMEmbedding and CNLLMRerank get their connection fields, settings, clients, copies and
pickles from ``cn_llm_client.connected.ConnectedModel``. The key is excluded from
``to_dict``/``to_json``; pickles carry neither the key nor connections.
"""

from __future__ import annotations

from llama_index.core.bridge.pydantic import ConfigDict, Field

from cn_llm_client.connected import ConnectedModel

__all__ = ["CoreConnection"]


class CoreConnection(ConnectedModel):
    """Which server, which key (see ``ConnectedModel``)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt argument is an error, not dropped

    timeout: float | None = Field(
        default=60.0, description="Read timeout in seconds (idle between bytes)."
    )
