"""ConnectedModel: connection settings and core clients for the adapters' pydantic classes.

Every LangChain and LlamaIndex class of cn-llm (chat models, embeddings, rerankers) inherits
this one base, next to its framework's base class, so that all of them share one rule for:

- the connection fields (``api_key`` as a ``SecretStr``, ``base_url``, ``provider``,
  ``timeout``, ``max_retries``, ``default_headers``);
- settings resolved and checked at construction by :func:`resolve_settings`: ``base_url`` holds
  the URL calls go to, the key comes from the argument or the provider's variable, and a missing
  key raises ``ConfigurationError`` (not for loopback servers and keyless providers);
- copies (``model_copy(update=...)``, ``copy.copy``, ``copy.deepcopy``) with their own settings
  and connections; a copy given a new provider (and no URL or key of the caller's) resolves that
  provider's URL and key;
- pickles without the key (the copy reads it from the environment) and without connections;
- the sync and async core clients, held by a :class:`ClientCache` keyed by their settings.

Needs pydantic, which both frameworks bring; ``import cn_llm_client`` does not import it.

    >>> from cn_llm_client.connected import ConnectedModel
    >>> settings = ConnectedModel(provider="deepseek", api_key="sk-not-real")
    >>> settings.base_url, "sk-not-real" in repr(settings)
    ('https://api.deepseek.com', False)
    >>> settings.model_copy(update={"provider": "vllm"}).base_url
    'http://localhost:8000/v1'
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr
from typing_extensions import Self

from ._config import resolve_settings
from .client import AsyncCNLLMClient, CNLLMClient
from .client_cache import ClientCache
from .errors import ConfigurationError

__all__ = ["ConnectedModel"]

# A copy given one of these resolves its URL and key again (see ConnectedModel.model_copy).
_CONNECTION_FIELDS = frozenset({"api_key", "base_url", "provider"})


class ConnectedModel(BaseModel):
    """Which server, which key; one sync and one async core client, built on first use."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    # Fields holding the caller's own objects (HTTP clients): a deep copy uses them as they
    # are, a pickle drops them.
    _caller_owned: ClassVar[tuple[str, ...]] = ()

    api_key: SecretStr | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="API key; default: the provider's variable (AISA_API_KEY, DASHSCOPE_API_KEY...).",
    )
    base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("base_url", "api_base", "openai_api_base"),
        description="OpenAI-compatible base URL; default: the provider's URL variable "
        "(AISA_BASE_URL), else its preset. Holds the resolved URL after construction.",
    )
    provider: str | None = Field(
        default=None,
        description="Provider preset: aisa (default), dashscope, deepseek, siliconflow, vllm, ...",
    )
    timeout: float | None = Field(
        default=None, description="Read timeout in seconds (idle between bytes); None: 60."
    )
    max_retries: int = Field(default=2, description="Retries on connect errors, 429 and 5xx.")
    default_headers: dict[str, str] | None = Field(
        default=None, description="Headers sent with every request."
    )

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._check_fields()
        self._resolve_settings()

    def _check_fields(self) -> None:
        """Class-specific checks run at construction, before the settings are resolved."""

    def _resolve_settings(self) -> None:
        """``base_url`` and ``api_key`` as the core resolves them from what the caller gave.

        Called from ``__init__``, not a validator: pydantic would wrap our errors in a
        ValidationError. Resolved values are written without marking the fields as given, so
        that a copy with another provider resolves that provider's URL and key.
        """
        given = self.model_fields_set
        settings = resolve_settings(
            _secret(self.api_key) if "api_key" in given else None,
            self.base_url if "base_url" in given else None,
            self.provider,
        )
        self.__dict__["base_url"] = settings.base_url
        if "api_key" not in given or self.api_key is None:
            self.__dict__["api_key"] = SecretStr(settings.api_key) if settings.api_key else None

    # --- copies and pickles ----------------------------------------------------------------------

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with its own connections; ``update`` settings are used by the copy.

        As in pydantic, ``update`` is not validated; a str ``api_key`` is kept as a SecretStr.
        A new provider, URL or key resolves the copy's settings again.
        """
        if update and isinstance(update.get("api_key"), str):
            update = {**update, "api_key": SecretStr(update["api_key"])}
        copied = super().model_copy(update=update, deep=deep)
        if update and _CONNECTION_FIELDS & update.keys():
            copied._resolve_settings()
        return copied

    def __copy__(self) -> Self:
        """Fields copied, private state (connections, meters) not (``model_copy`` comes here)."""
        copied = super().__copy__()
        object.__setattr__(copied, "__pydantic_private__", self._fresh_private_state())
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        copied = self.__copy__()
        fields = {
            name: value if name in self._caller_owned else copy.deepcopy(value, memo)
            for name, value in self.__dict__.items()
        }
        object.__setattr__(copied, "__dict__", fields)
        return copied

    def __getstate__(self) -> dict[Any, Any]:
        """Pickle without the API key, the caller's objects and any connection."""
        state = super().__getstate__()
        fields = {**state["__dict__"], "api_key": None}
        fields.update(dict.fromkeys(self._caller_owned))
        return {**state, "__dict__": fields, "__pydantic_private__": None}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        object.__setattr__(self, "__pydantic_private__", self._fresh_private_state())
        # The key of this process's environment; none here: the first call raises the error.
        with contextlib.suppress(ConfigurationError):
            self._resolve_settings()

    def _fresh_private_state(self) -> dict[str, Any]:
        return {
            name: attr.get_default(call_default_factory=True)
            for name, attr in type(self).__private_attributes__.items()
        }

    # --- the core clients ------------------------------------------------------------------------

    def _client_settings(self, *, asynchronous: bool) -> dict[str, Any]:
        """The core client's arguments; a subclass adds its own (meter, HTTP client)."""
        settings: dict[str, Any] = {
            "api_key": _secret(self.api_key),
            "base_url": self.base_url,
            "provider": self.provider,
            "max_retries": self.max_retries,
            "default_headers": self.default_headers,
        }
        if self.timeout is not None:
            settings["timeout"] = self.timeout
        return settings

    def _sync_client(self) -> CNLLMClient:
        return self._clients.get(CNLLMClient, self._client_settings(asynchronous=False))

    def _async_client(self) -> AsyncCNLLMClient:
        # One client serves every event loop: the core pools per loop and closes a loop's pool
        # when that loop shuts down (so reusing the object across asyncio.run() calls works).
        return self._clients.get(AsyncCNLLMClient, self._client_settings(asynchronous=True))

    def close(self) -> None:
        """Close the pooled sync connections (the next call opens new ones)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the running loop's pooled connections, and the sync ones.

        Optional: a loop's pool also closes when the loop shuts down (``asyncio.run`` ends).
        """
        await self._clients.aclose()


def _secret(key: SecretStr | str | None) -> str | None:
    return key.get_secret_value() if isinstance(key, SecretStr) else key
