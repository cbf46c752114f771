"""The connection settings and pooled core clients that CNLLMEmbedding and CNLLMRerank share."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from cn_llm_client import AsyncCNLLMClient, CNLLMClient
from cn_llm_client.client_cache import ClientCache

__all__ = ["CoreConnection"]


class CoreConnection(BaseModel):
    """Which server, which key; one sync and one async core client, built on first use.

    The key stays a ``SecretStr`` excluded from ``to_dict``/``to_json``; pickles carry neither
    the key nor connections (the copy's core client reads the provider's environment variable).
    """

    model_config = ConfigDict(extra="forbid")  # a misspelt argument is an error, not dropped

    api_key: SecretStr | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="API key; default: the provider's environment variable (DASHSCOPE_API_KEY...).",
    )
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL; default: the provider preset's."
    )
    provider: str | None = Field(
        default=None, description="Provider preset: dashscope, siliconflow, zhipu, vllm, ..."
    )
    timeout: float = Field(
        default=60.0, description="Read timeout in seconds (idle between bytes)."
    )
    max_retries: int = Field(default=2, description="Retries on connect errors, 429 and 5xx.")

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    def _client_settings(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key.get_secret_value() if self.api_key else None,
            "base_url": self.base_url,
            "provider": self.provider,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
        }

    def _sync_client(self) -> CNLLMClient:
        return self._clients.get(CNLLMClient, self._client_settings())

    def _async_client(self) -> AsyncCNLLMClient:
        # The core keeps one pool per event loop and closes it when the loop shuts down.
        return self._clients.get(AsyncCNLLMClient, self._client_settings())

    def close(self) -> None:
        """Close the pooled sync connections (they reopen on the next call)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the running loop's pooled connections, and the sync ones (optional)."""
        await self._clients.aclose()

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        return {**state, "__dict__": {**state["__dict__"], "api_key": None}}
