"""Every failure of cn-llm, as one exception hierarchy.

```
CNLLMError(Exception)              .message .status_code .code .type .request_id .partial
├── ConfigurationError(ValueError)     missing key, invalid base_url, unknown provider
├── InvalidRequestError(ValueError)    our own validation, raised before any I/O
├── BudgetExceededError                a cost budget is spent
├── APIConnectionError                 .host; connect refused, DNS, TLS
│   └── APITimeoutError                connect/read timeout or total deadline
├── StreamInterruptedError             stream broke or ended without [DONE]; .partial
└── APIStatusError                     .status_code .code .type .request_id .body (dict | short str)
    ├── BadRequestError                400, 422
    ├── AuthenticationError            401; .key_env (the provider's key variable)
    ├── InsufficientBalanceError       402
    ├── PermissionDeniedError          403
    ├── ModelNotFoundError             404 / proxy "unknown model"; .suggestions, .in_catalog
    ├── RateLimitError                 429; .retry_after (seconds, float | None)
    └── ServerError                    5xx (HTML/empty bodies shown briefly)
        └── ProtocolError              a 2xx body or stream event that is not the JSON we expect
```

`str(error)` is one line: status, server code, message, request id and what to do::

    >>> status_error(401, b'{"error": {"code": "invalid_api_key", "message": "Bad key"}}', {})
    AuthenticationError('HTTP 401 [invalid_api_key] Bad key. Check AISA_API_KEY (or the api_key you passed).')

A server's message is shown with its whitespace collapsed and cut at 200 characters (a Python
traceback in a JSON error stays one line); `.message` keeps it whole, `.body` the parsed body.

Knowing the call (`model=`, `provider=` of `status_error` / `error_from_event`) makes the error
say more: the provider's own key variable on a 401 (``DEEPSEEK_API_KEY``...), and an unknown model
recognised however the server words it (404, LiteLLM's 400 "Invalid model name passed in",
one-api/new-api's "No available channel" / "无可用渠道" for an id the catalog does not list) as
ModelNotFoundError, with `.suggestions` from that provider's catalog.

`.partial` is None, except on errors raised out of a stream: then it holds the completion-shaped
dict folded from what arrived (content, reasoning_content, tool_calls, usage if any).
"""

from __future__ import annotations

import email.utils
import html as _html
import math
import re
import time
from collections.abc import Mapping
from datetime import timezone
from http import HTTPStatus
from typing import Any

import orjson

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "CNLLMError",
    "ConfigurationError",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "ServerError",
    "StreamInterruptedError",
    "error_from_event",
    "is_error_body",
    "parse_retry_after",
    "status_error",
]


class CNLLMError(Exception):
    """Base of every cn-llm error: catch it to handle them all. `str(e)` says what to do.

    >>> from cn_llm_client import CNLLMClient
    >>> try:
    ...     CNLLMClient().chat("qwen3-mx", [{"role": "user", "content": "Hello!"}])
    ... except CNLLMError as e:
    ...     print(type(e).__name__, e.status_code, e.code, e.request_id)
    ModelNotFoundError 404 unknown_model req_...
    """

    hint = ""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        type: str | None = None,
        request_id: str | None = None,
        partial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)  # args == (message,): the default pickling rebuilds from it
        self.message = message
        self.status_code = status_code
        self.code = code
        self.type = type
        self.request_id = request_id
        self.partial = partial

    def __str__(self) -> str:
        head = f"HTTP {self.status_code} " if self.status_code else ""
        code = f"[{self.code}] " if self.code else ""
        rid = f" (request_id {self.request_id})" if self.request_id else ""
        hint = self._hint()
        text = f"{head}{code}{self._shown_message()}".rstrip(". ")
        return f"{text}{rid}." + (f" {hint}" if hint else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def _hint(self) -> str:
        return self.hint

    def _shown_message(self) -> str:
        return _SPACE.sub(" ", self.message).strip()


class ConfigurationError(CNLLMError, ValueError):
    """Missing key, bad base_url or unknown provider, at construction; set what it names."""


class InvalidRequestError(CNLLMError, ValueError):
    """Our own validation failed before anything was sent; fix the argument the message names."""


class BudgetExceededError(CNLLMError):
    """The CostMeter's limit is spent, nothing was sent; raise limit_usd or use a new meter."""


class APIConnectionError(CNLLMError):
    """The server was unreachable (refused, DNS, TLS, dropped); check the network and base_url."""

    hint = "Check your network and the base_url."

    def __init__(self, message: str, *, host: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.host = host


class APITimeoutError(APIConnectionError):
    """A connect/read timeout or the deadline ran out; retry, or raise timeout= / deadline=."""

    hint = "Try again, or raise the timeout."


class StreamInterruptedError(CNLLMError):
    """The stream broke or ended without [DONE]; `.partial` keeps what arrived: resume from it."""

    hint = "What arrived so far is in .partial."

    def __init__(self, message: str, *, arrived: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.arrived = arrived  # False: the stream ended before its first chunk

    def _hint(self) -> str:
        return self.hint if self.arrived else ""


class APIStatusError(CNLLMError):
    """The server answered an error status or stream error event; `.code` and `.body` say why."""

    def __init__(
        self,
        message: str,
        *,
        body: dict[str, Any] | str | None = None,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.body = body
        self.retry_after = retry_after  # from Retry-After, when the server sent one

    def _shown_message(self) -> str:
        return _brief(self.message, html=False)  # the server's text: one line, bounded


class BadRequestError(APIStatusError, ValueError):
    """400 or 422: the server rejected the request; fix what the message names, do not retry."""


class AuthenticationError(APIStatusError):
    """401: the key is missing, wrong or revoked; check `.key_env` (or the api_key passed)."""

    key_env: str | None = "AISA_API_KEY"  # the provider's key variable; None: it has none

    def _hint(self) -> str:
        if self.key_env:
            return f"Check {self.key_env} (or the api_key you passed)."
        return "Check the api_key you passed (this provider reads no key variable)."


class InsufficientBalanceError(APIStatusError):
    """402 (or a provider's balance code): the account is out of credit; top it up."""

    hint = "Top up the account balance."


class PermissionDeniedError(APIStatusError):
    """403: this key may not use this model or region; pick another or ask for access."""

    hint = "This key may not use this model or region."


class ModelNotFoundError(APIStatusError):
    """The server does not serve that model; try `.suggestions` or see `cn-llm models`.

    `.in_catalog` is True when cn-llm's catalog lists the id for this provider: then the catalog
    may be behind the server, and `cn-llm models --remote` shows what the server serves.
    """

    def __init__(
        self,
        message: str,
        *,
        suggestions: list[str] | None = None,
        in_catalog: bool = False,
        **kwargs: Any,
    ):
        super().__init__(message, **kwargs)
        self.suggestions = suggestions or []
        self.in_catalog = in_catalog

    def _hint(self) -> str:
        if self.in_catalog:
            return (
                "cn-llm's catalog lists this id, so the catalog may be behind this server: "
                "`cn-llm models --remote` shows what the server serves."
            )
        if self.suggestions:
            return f"Did you mean: {', '.join(self.suggestions)}?"
        return "Check the model id (`cn-llm models` lists them) and the base_url."


class RateLimitError(APIStatusError):
    """429 after the retries; wait `.retry_after` seconds (None: not sent) and send less often."""

    def _hint(self) -> str:
        if self.retry_after is not None:
            return f"Slow down: retry after {self.retry_after:g} s."
        return "Slow down and retry later."


class ServerError(APIStatusError):
    """5xx after the retries: the server failed; try again later or another model."""

    hint = "The server failed; try again later."


class ProtocolError(ServerError):
    """The reply is not the JSON expected; check base_url points at an OpenAI-compatible /v1."""

    hint = "The reply is not OpenAI-compatible JSON; check the base_url."


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    422: BadRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    404: ModelNotFoundError,
    429: RateLimitError,
}

# Server codes (AIsa snake_case, DashScope PascalCase, OpenAI) that name the class better than the
# status does, e.g. DashScope's 400 "Arrearage" or OpenAI's 429 "insufficient_quota".
_BY_CODE: dict[str, type[APIStatusError]] = {
    "invalidapikey": AuthenticationError,
    "invalid_api_key": AuthenticationError,
    "missing_api_key": AuthenticationError,
    "revoked_api_key": AuthenticationError,
    "arrearage": InsufficientBalanceError,
    "insufficient_balance": InsufficientBalanceError,
    "insufficient_quota": InsufficientBalanceError,
    "modelnotfound": ModelNotFoundError,
    "model_not_found": ModelNotFoundError,
    "unknown_model": ModelNotFoundError,
    "unknown_endpoint": APIStatusError,
    "resource_not_found": APIStatusError,
    "rate_limit_exceeded": RateLimitError,
    "rate_limit_error": RateLimitError,
    # Zhipu (numeric strings, https://docs.z.ai/api-reference/api-code)
    "1000": AuthenticationError,
    "1001": AuthenticationError,
    "1002": AuthenticationError,
    "1003": AuthenticationError,
    "1004": AuthenticationError,
    "1113": InsufficientBalanceError,  # in arrears, sent as 429
    "1211": ModelNotFoundError,  # sent as 400
    "1220": PermissionDeniedError,
    "1302": RateLimitError,
    "1303": RateLimitError,
    "1305": RateLimitError,
    # SiliconFlow (top-level integer codes)
    "20012": ModelNotFoundError,  # "Model does not exist", sent as 400
    "30011": InsufficientBalanceError,  # sent as 403
}

# Error `type`s, used only when there is no status (error events inside a stream).
_BY_TYPE: dict[str, type[APIStatusError]] = {
    "authentication_error": AuthenticationError,
    "invalid_request_error": BadRequestError,
    "permission_error": PermissionDeniedError,
    "rate_limit_error": RateLimitError,
    "not_found_error": ModelNotFoundError,
    "notfounderror": ModelNotFoundError,  # vLLM
    "invalid_authentication_error": AuthenticationError,  # Moonshot
    "permission_denied_error": PermissionDeniedError,
    "resource_not_found_error": ModelNotFoundError,
    "rate_limit_reached_error": RateLimitError,
}

_NOT_GIVEN: Any = object()  # `model=` left out: nothing is known about the call

_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]*>", re.S | re.I)
_SPACE = re.compile(r"\s+")
_SHOWN = 200


def _error_class(status: int | None, code: str | None, type_: str | None) -> type[APIStatusError]:
    key = (code or "").lower()
    if key in _BY_CODE:
        return _BY_CODE[key]
    if type_ == "exceeded_current_quota_error":  # Moonshot's empty balance, sent as 429
        return InsufficientBalanceError
    if key.startswith("throttling"):  # DashScope: Throttling, Throttling.RateQuota, ...
        return RateLimitError
    if status is not None:
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        return ServerError if status >= 500 else APIStatusError
    return _BY_TYPE.get((type_ or "").lower(), ServerError)


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    wanted = set(names)
    for key, value in headers.items():
        if key.lower() in wanted:
            return value
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or `retry-after-ms`; else None."""
    millis = _seconds(_header(headers, "retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, with no claim about the sender's zone (RFC 5322)
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - time.time(), 0.0)


def _seconds(value: str | None) -> float | None:
    """A finite number >= 0 (negatives count as 0), or None: "nan" and "inf" parse as floats."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return max(number, 0.0) if math.isfinite(number) else None


def _brief(text: str, *, html: bool = True) -> str:
    """An HTML (tags dropped) or plain-text body as one short line."""
    if html:
        text = _html.unescape(_TAG.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """message/code/type/request_id out of an AIsa, DashScope, DeepSeek, OpenAI, Zhipu, Moonshot,
    SiliconFlow, vLLM or Ollama error."""
    inner = obj.get("error", obj)
    if isinstance(inner, str):
        return {"message": inner, "code": _text(obj.get("code")), "type": None, "request_id": None}
    if not isinstance(inner, Mapping):
        inner = obj
    message = inner.get("message") or inner.get("detail") or obj.get("message") or ""
    if isinstance(message, Mapping):  # older LiteLLM: {"message": {"error": "..."}}
        message = message.get("error") or message.get("message") or orjson.dumps(message).decode()
    return {
        "message": str(message),
        "code": _text(inner.get("code")),
        "type": _text(inner.get("type")),
        "request_id": _text(inner.get("request_id") or obj.get("request_id")),
    }


def is_error_body(obj: Mapping[str, Any]) -> bool:
    """Whether a parsed body or stream event is an error rather than a (chunk of a) completion.

    `{"error": ...}` (AIsa, OpenAI, DashScope, Zhipu, Ollama), vLLM's `{"object": "error", ...}`
    and SiliconFlow's top-level `{"code", "message", "data"}`:

    >>> is_error_body({"code": 20015, "message": "Length too long", "data": None})
    True
    """
    if obj.get("error") or obj.get("object") == "error":
        return True
    return "choices" not in obj and "code" in obj and "message" in obj


def status_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    model: Any = _NOT_GIVEN,
    provider: str | None = None,
) -> APIStatusError:
    """Map an HTTP error response to the matching error class (`model`, `provider`: of the call;
    `model=None` says the call names no model, e.g. GET /files/x, so a 404 is not about one).

    >>> status_error(429, b"", {"Retry-After": "3"}).retry_after
    3.0
    >>> status_error(401, b"", {}, provider="deepseek").key_env
    'DEEPSEEK_API_KEY'
    """
    try:
        parsed = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        fields = _fields(parsed)
        shown: dict[str, Any] | str = parsed
    else:
        text = _brief(body.decode("utf-8", "replace"))
        fields = {"message": text, "code": None, "type": None, "request_id": None}
        shown = text
    if not fields["message"]:
        try:
            fields["message"] = HTTPStatus(status).phrase
        except ValueError:
            fields["message"] = "Error"
    if fields["request_id"] is None:
        fields["request_id"] = _header(headers, "x-request-id", "request-id")
    cls = _error_class(status, fields["code"], fields["type"])
    retry_after = parse_retry_after(headers)
    error = cls(status_code=status, body=shown, retry_after=retry_after, **fields)
    return _for_call(error, model, provider)


def error_from_event(
    payload: Mapping[str, Any],
    *,
    request_id: str | None = None,
    model: Any = _NOT_GIVEN,
    provider: str | None = None,
) -> APIStatusError:
    """The error object inside a stream event (`{"error": {...}}` or the bare object) as an error.

    >>> type(error_from_event({"error": {"code": "Throttling.RateQuota", "message": "slow"}}))
    <class 'cn_llm_client.errors.RateLimitError'>
    """
    fields = _fields(payload)
    inner = payload.get("error", payload)
    status: int | None = None
    if isinstance(inner, Mapping):
        for candidate in (inner.get("status_code"), inner.get("status"), inner.get("code")):
            if isinstance(candidate, int) or (isinstance(candidate, str) and candidate.isdecimal()):
                status = int(candidate)
                break
    if status is not None and not 400 <= status < 600:
        status = None
    fields["message"] = fields["message"] or "The server reported an error inside the stream"
    fields["request_id"] = fields["request_id"] or request_id
    cls = _error_class(status, fields["code"], fields["type"])
    return _for_call(cls(status_code=status, body=dict(payload), **fields), model, provider)


# LiteLLM's 400 for a model its config does not route (BerriAI/litellm#3142, #8821).
_UNROUTED_MODEL = "invalid model name passed in"
# one-api / new-api: no channel serves that id for the key's group; also said when every channel of
# a known model is down, so it means "unknown model" only for ids the catalog does not list.
_NO_CHANNEL = re.compile(r"no available channel|无可用渠道", re.I)


def _for_call(error: APIStatusError, model: Any, provider: str | None) -> APIStatusError:
    """`error` as the caller of `model` on `provider` should see it (the one place for this)."""
    if isinstance(error, AuthenticationError) and provider is not None:
        from cn_llm_client.providers import get_provider  # lazy: providers imports this module

        error.key_env = get_provider(provider).api_key_env
        return error
    if (
        model is None
        and type(error) is ModelNotFoundError
        and _BY_CODE.get((error.code or "").lower()) is not ModelNotFoundError
    ):
        return _recast(error, APIStatusError)  # a 404 of a call naming no model: a file, a batch
    if not isinstance(model, str) or not model:
        return error
    from cn_llm_client.catalog import list_models, suggest_models  # lazy: loads models.json

    listed = any(m.id == model for m in list_models(provider))
    text = error.message.lower()
    if not isinstance(error, ModelNotFoundError) and (
        _UNROUTED_MODEL in text or (not listed and _NO_CHANNEL.search(text))
    ):
        error = _recast(error, ModelNotFoundError)
    if isinstance(error, ModelNotFoundError):
        error.suggestions = suggest_models(model, provider=provider)
        error.in_catalog = listed
    return error


def _recast(error: APIStatusError, cls: type[APIStatusError]) -> APIStatusError:
    """The same server answer as another class."""
    return cls(
        error.message,
        status_code=error.status_code,
        code=error.code,
        type=error.type,
        request_id=error.request_id,
        partial=error.partial,
        body=error.body,
        retry_after=error.retry_after,
    )
