"""Connection settings: which server, which key, which provider preset.

    >>> s = resolve_settings(base_url="http://127.0.0.1:8000/v1")   # loopback: no key needed
    >>> s.base_url, s.provider.name
    ('http://127.0.0.1:8000/v1', 'aisa')

Order of precedence:
- base URL: the ``base_url`` argument, else the preset's URL variable (``AISA_BASE_URL`` for
  aisa), else the preset's URL;
- API key: the ``api_key`` argument, else the provider's environment variable (``AISA_API_KEY``
  for aisa, ``DASHSCOPE_API_KEY`` for dashscope, ...).

A missing key is a :class:`ConfigurationError` at construction, naming the variable to set.
Two exceptions, by design: loopback servers (``localhost``, ``127.0.0.1``, ``::1``: local vLLM,
Ollama, the offline gateway) and providers marked keyless in ``providers.json`` accept no key,
because those servers usually need none and a required dummy key only teaches people to type
fake secrets.
"""

from __future__ import annotations

import ipaddress
import os
import re
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .providers import Provider, get_provider

__all__ = [
    "ConnectionSettings",
    "check_api_key",
    "check_base_url",
    "is_loopback",
    "resolve_settings",
]

_warned_plain_http: set[str] = set()
_HEADER_SAFE = re.compile(r"[!-~]+")  # printable ASCII, no spaces: what a bearer token may hold


@dataclass(frozen=True)
class ConnectionSettings:
    """Resolved settings; ``api_key`` is kept out of the repr.

    >>> resolve_settings(api_key="sk-secret", provider="deepseek")
    ConnectionSettings(base_url='https://api.deepseek.com', provider=..., key_from_env=False)
    """

    base_url: str
    provider: Provider
    api_key: str | None = field(default=None, repr=False)
    key_from_env: bool = False


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (v4 and v6)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_settings(
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
) -> ConnectionSettings:
    """Resolve and validate the connection settings; raises ConfigurationError.

    >>> settings = resolve_settings(api_key="sk-secret", provider="deepseek")
    >>> settings.base_url, "sk-secret" in repr(settings)  # the key stays out of the repr
    ('https://api.deepseek.com', False)
    """
    preset = get_provider(provider)
    url = base_url or (os.environ.get(preset.base_url_env) if preset.base_url_env else None)
    if not (url or preset.base_url):
        raise ConfigurationError(
            f"Provider {preset.name!r} has no default URL: pass base_url=... (CLI: --base-url)."
        )
    url = check_base_url(url or preset.base_url)
    host = urlsplit(url).hostname or ""

    # Whitespace around a key (a pasted key, an .env line) would make the header illegal.
    key = (api_key or "").strip() or None
    key_from_env = False
    if key is None and preset.api_key_env:
        key = os.environ.get(preset.api_key_env, "").strip() or None
        key_from_env = key is not None
    if key is None and preset.key_required and not is_loopback(host):
        raise ConfigurationError(_missing_key_message(preset))
    check_api_key(key, preset.name)
    if key is not None and url.startswith("http://") and not is_loopback(host):
        _warn_plain_http(host)
    return ConnectionSettings(url, preset, key, key_from_env)


def check_api_key(key: str | None, provider: str | None = None) -> None:
    """Refuse a key that no HTTP header can carry, without showing it."""
    if key and not _HEADER_SAFE.fullmatch(key):
        # Never sent: httpx would raise UnicodeEncodeError, or h11 an error quoting the key.
        env = get_provider(provider).api_key_env or "the api_key you passed"
        raise ConfigurationError(
            "The API key holds whitespace or non-ASCII characters, which no HTTP header can "
            f"carry; copy the key again ({env} or api_key=)."
        )


def check_base_url(url: str) -> str:
    """The URL without surrounding space and trailing slash; ConfigurationError if not http(s)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"Invalid base_url {url!r}: it must be an http(s) URL such as "
            "'https://api.aisa.one/v1' or 'http://127.0.0.1:8000/v1'."
        )
    return url.strip().rstrip("/")


def _missing_key_message(preset: Provider) -> str:
    env = preset.api_key_env or "AISA_API_KEY"
    return (
        f"No API key for provider {preset.name!r}. Set it with `export {env}=...` "
        f"or pass api_key=... (CLI: --api-key)."
    )


def _warn_plain_http(host: str) -> None:
    if host in _warned_plain_http:
        return
    _warned_plain_http.add(host)
    warnings.warn(
        f"Sending an API key over plain http to {host}; use https unless this is a trusted network.",
        UserWarning,
        stacklevel=4,
    )
