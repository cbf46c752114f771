"""CoreConnection: the connection fields and core clients of every LangChain class here.

ChatCNLLM, CNLLMEmbeddings and CNLLMRerank all get their settings, their clients, their copies and
their pickles from this one place; the core's ``resolve_settings`` decides the URL and key, and
its ``ClientCache`` holds the clients, keyed by the settings they were built with.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from langchain_core.load.serializable import Serializable
from pydantic import AliasChoices, ConfigDict, Field, PrivateAttr, SecretStr
from typing_extensions import Self

from cn_llm_client import AsyncCNLLMClient, CNLLMClient, ConfigurationError, resolve_settings
from cn_llm_client.client_cache import ClientCache
from cn_llm_client.providers import get_provider

__all__ = ["CoreConnection"]

# A copy given one of these resolves its URL and key again (see CoreConnection.model_copy).
_CONNECTION_FIELDS = frozenset({"api_key", "base_url", "provider"})


class CoreConnection(Serializable):
    """Which server, which key; one sync and one async core client, built on first use.

    Settings are resolved at construction, as the core client resolves them: ``base_url`` holds
    the URL calls go to (the argument, else the provider's URL variable, else its preset), the
    key the argument or the provider's variable; a missing key raises ``ConfigurationError``
    (not for loopback servers and keyless providers).

    Copies (``model_copy(update=...)``, ``copy.copy``, ``copy.deepcopy``) use their own settings
    and open their own connections. The key stays a ``SecretStr``: out of reprs and errors;
    pickling drops it (the copy reads the environment again) and ``dumpd`` stores only the
    variable's name.
    """

    # A misspelt argument (dimension=256) is an error, not silently dropped.
    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True, extra="forbid")

    # Fields holding the caller's own objects: a deep copy uses them, a pickle drops them.
    _caller_owned: ClassVar[tuple[str, ...]] = ()

    api_key: SecretStr | None = None
    """Defaults to the provider's variable (``AISA_API_KEY``, ``DASHSCOPE_API_KEY``, ...)."""
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("base_url", "api_base", "openai_api_base")
    )
    """Default: the provider's URL variable (``AISA_BASE_URL``), else its preset; the resolved
    URL is what the field holds after construction."""
    provider: str | None = None
    """A preset from ``cn_llm_client.providers``: aisa (default), dashscope, deepseek, ..."""
    timeout: float | None = None
    """Seconds of silence allowed while reading (the core's default: 60)."""
    max_retries: int = 2
    default_headers: dict[str, str] | None = None

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

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": get_provider(self.provider).api_key_env or "AISA_API_KEY"}

    # --- copies and pickles --------------------------------------------------------------------

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with its own connections; ``update`` settings are used by the copy.

        As in pydantic, ``update`` is not validated; a str ``api_key`` is kept as a SecretStr.
        A new provider, URL or key resolves the copy's settings again (a new provider alone
        brings that provider's URL and key variable, unless the caller had given them).
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
        self.__pydantic_private__ = self._fresh_private_state()
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
