"""ClientCache: the pooled core clients that one adapter object holds, one per set of settings.

    >>> from cn_llm_client import CNLLMClient
    >>> cache = ClientCache()
    >>> settings = {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-not-real"}
    >>> client = cache.get(CNLLMClient, settings)
    >>> cache.get(CNLLMClient, dict(settings)) is client        # built once, then reused
    True
    >>> cache.get(CNLLMClient, {**settings, "max_retries": 0}) is client   # other settings
    False
    >>> cache.close()

Adapter objects (LangChain and LlamaIndex components) are pydantic models that users copy,
deep-copy and pickle. Keying the clients by their settings keeps a copy with a new key or URL
(``model_copy(update=...)``, or a changed field) from reusing connections made with the old ones;
a deep copy or a pickle carries no connections and starts empty. Thread-safe.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["ClientCache"]

Client = TypeVar("Client")


class ClientCache:
    """Clients built on first use by ``get(cls, settings)``, kept while the settings are the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[Any, ...], Any] = {}

    def get(self, cls: type[Client], settings: Mapping[str, Any]) -> Client:
        """``cls(**settings)``, built once per distinct ``settings``."""
        key = (cls, *sorted((name, _hashable(value)) for name, value in settings.items()))
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = cls(**settings)
            return client  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close and forget the sync clients (the next ``get`` builds a new one)."""
        for client in self._take(asynchronous=False):
            client.close()

    async def aclose(self) -> None:
        """Close and forget every client: the async ones' pools of the running loop, the sync ones."""
        for client in self._take(asynchronous=True):
            await client.aclose()
        self.close()

    def _take(self, *, asynchronous: bool) -> list[Any]:
        with self._lock:
            keys = [
                key
                for key, client in self._clients.items()
                if asyncio.iscoroutinefunction(getattr(client, "aclose", None)) == asynchronous
            ]
            return [self._clients.pop(key) for key in keys]

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientCache:
        return ClientCache()

    def __reduce__(self) -> tuple[Any, ...]:
        return (ClientCache, ())

    def __repr__(self) -> str:
        return f"ClientCache({len(self._clients)} clients)"


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value
