"""CoreConnection: the core's ConnectedModel as a LangChain Serializable.

ChatCNLLM, CNLLMEmbeddings and CNLLMRerank get their connection fields, settings, clients, copies
and pickles from ``cn_llm_client.connected.ConnectedModel``; this adds LangChain's serialization.
"""

from __future__ import annotations

from langchain_core.load.serializable import Serializable
from pydantic import ConfigDict

from cn_llm_client.connected import ConnectedModel
from cn_llm_client.providers import get_provider

__all__ = ["CoreConnection"]


class CoreConnection(ConnectedModel, Serializable):
    """Which server, which key (see ``ConnectedModel``); ``dumpd`` stores only the name of the
    key's environment variable, never the key."""

    # A misspelt argument (dimension=256) is an error, not silently dropped.
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": get_provider(self.provider).api_key_env or "AISA_API_KEY"}
