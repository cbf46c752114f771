"""The connection settings and pooled core clients that CNLLMEmbeddings and CNLLMRerank share."""

from __future__ import annotations

import os
from typing import Any

from langchain_core.load.serializable import Serializable
from pydantic import AliasChoices, ConfigDict, Field, PrivateAttr, SecretStr, model_validator
from typing_extensions import Self

from cn_llm_client import AsyncCNLLMClient, CNLLMClient, get_provider
from cn_llm_client.client_cache import ClientCache

__all__ = ["CoreConnection"]


class CoreConnection(Serializable):
    """Which server, which key; one sync and one async core client, built on first use.

    The key comes from ``api_key`` or the provider's environment variable (read at construction,
    as ChatCNLLM does). It stays a ``SecretStr``: out of reprs and errors; pickling drops it (the
    copy reads the environment again) and ``dumpd`` stores only the variable's name.
    """

    # A misspelt argument (dimension=256) is an error, not silently dropped.
    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True, extra="forbid")

    api_key: SecretStr | None = None
    """Defaults to the provider's variable (``DASHSCOPE_API_KEY`` for dashscope, ...)."""
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("base_url", "api_base", "openai_api_base")
    )
    """None: the provider preset's URL (or its URL variable), resolved by the core."""
    provider: str | None = None
    """A preset from ``cn_llm_client.providers``: dashscope, siliconflow, zhipu, vllm, ollama, ..."""
    timeout: float | None = None
    """Seconds of silence allowed while reading (the core's default: 60)."""
    max_retries: int = 2
    default_headers: dict[str, str] | None = None

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    @model_validator(mode="after")
    def _resolve_key(self) -> Self:
        self._key_from_environment()
        return self

    def _key_from_environment(self) -> None:
        variable = get_provider(self.provider).api_key_env  # unknown provider: ConfigurationError
        if self.api_key is None and variable and os.environ.get(variable):
            self.api_key = SecretStr(os.environ[variable])

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": get_provider(self.provider).api_key_env or "AISA_API_KEY"}

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        return {**state, "__dict__": {**state["__dict__"], "api_key": None}}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._key_from_environment()

    def _client_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "api_key": self.api_key.get_secret_value() if self.api_key else None,
            "base_url": self.base_url,
            "provider": self.provider,
            "max_retries": self.max_retries,
            "default_headers": self.default_headers,
        }
        if self.timeout is not None:
            settings["timeout"] = self.timeout
        return settings

    def _sync_client(self) -> CNLLMClient:
        return self._clients.get(CNLLMClient, self._client_settings())

    def _async_client(self) -> AsyncCNLLMClient:
        # One client serves every event loop: the core pools per loop and closes a loop's pool
        # when that loop shuts down.
        return self._clients.get(AsyncCNLLMClient, self._client_settings())

    def close(self) -> None:
        """Close the pooled sync connections (the next call opens new ones)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the running loop's pooled connections, and the sync ones (optional: see above)."""
        await self._clients.aclose()
