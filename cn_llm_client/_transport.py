"""One request path to an OpenAI-compatible server, sync and async.

    >>> transport = Transport("https://api.aisa.one/v1", key, timeout=Timeouts(read=60))
    >>> transport.post("/chat/completions", payload).data["choices"][0]["message"]["content"]
    >>> transport.request("GET", "/files/file-1/content", raw=True).content  # the body's bytes
    >>> with transport.stream("/chat/completions", {**payload, "stream": True}) as stream:
    ...     for chunk in stream:
    ...         ...
    ...     stream.completion()  # the fold of every chunk

`_Core` builds every request, parses every response and stream event, maps every failure to
`cn_llm_client.errors` and decides every retry (`_Core.retry_or_raise`, the one policy).
`Transport._attempts` and `AsyncTransport._attempts` are the one attempt loop of each I/O flavour
(twins, as in httpx): whole bodies and streams both go through it, each read fed to a sink
(`_Body` collects a whole body, `_Events` decodes a stream). The total deadline is checked between
reads, and no single read waits longer than the time that was left when the request was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import sys
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn, Protocol, TypeVar, cast

import httpx
import orjson

from cn_llm_client._config import check_api_key, check_base_url
from cn_llm_client._sse import ServerSentEvent, SSEDecoder
from cn_llm_client._stream import StreamAccumulator, normalize_completion
from cn_llm_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CNLLMError,
    ConfigurationError,
    InsufficientBalanceError,
    InvalidRequestError,
    ModelNotFoundError,
    ProtocolError,
    StreamInterruptedError,
    _text,
    error_from_event,
    is_error_body,
    status_error,
)

__all__ = [
    "APIResponse",
    "AsyncChatStream",
    "AsyncTransport",
    "ChatStream",
    "Timeouts",
    "Transport",
]

logger = logging.getLogger("cn_llm_client")

try:
    _USER_AGENT = f"cn-llm/{version('cn-llm')}"
except PackageNotFoundError:  # running from a source tree that was never installed
    _USER_AGENT = "cn-llm/0"

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0  # a server asking for a longer wait gets its error raised at once
# Failures where the server cannot have started on the request (or closed a stale keep-alive
# connection under us), so sending it again is safe.
_SAFE_TO_RETRY = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.RemoteProtocolError,
)
# Methods that change nothing when sent twice: any transport failure may be retried (RFC 9110 9.2.2).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Timeouts:
    """Seconds: `connect`, `read` (idle time between bytes) and an optional `total` deadline."""

    connect: float = 10.0
    read: float = 120.0
    total: float | None = None


@dataclass
class APIResponse:
    """A whole response: `.data` is the JSON object, or `{}` with `.content` (bytes) when raw."""

    data: dict[str, Any]
    request_id: str | None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


@dataclass(frozen=True)
class _Call:
    """One request as the caller asked for it; each attempt builds its httpx.Request from it."""

    method: str
    path: str  # appended to the base URL; a full URL (the same server's beta base) as is
    json: Any = None
    files: Any = None
    data: Any = None
    params: Any = None
    raw: bool = False
    stream: bool = False
    idempotent: bool = False
    # Before each resend: the answer the call may have got anyway (a JSON object), else None.
    # Sync transport: a plain callable; async: a coroutine function.
    recover: Callable[[], Any] | None = None

    @property
    def model(self) -> Any:
        return self.json.get("model") if isinstance(self.json, dict) else None


def _call(
    method: str,
    path: str,
    json: Any,
    files: Any,
    data: Any,
    params: Any,
    raw: bool,
    idempotent: bool | None,
    recover: Callable[[], Any] | None = None,
) -> _Call:
    method = method.upper()
    if json is not None and (files is not None or data is not None):
        raise InvalidRequestError(
            "Pass either json= (a JSON body) or files=/data= (a multipart form), not both."
        )
    if idempotent is None:
        idempotent = method in _IDEMPOTENT
    return _Call(method, path, json, files, data, params, raw, False, idempotent, recover)


class _Sink(Protocol[T_co]):
    """What reads one attempt's body: `feed` each read, `finish` at EOF."""

    done: bool  # the body is complete before EOF (a stream's [DONE])
    started: bool  # something reached the caller: the call is never sent again

    def feed(self, data: bytes) -> Iterable[T_co]: ...
    def finish(self) -> Iterable[T_co]: ...
    def partial(self) -> dict[str, Any] | None: ...


class _Core:
    """Everything but the I/O, shared by Transport and AsyncTransport."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: Timeouts,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        provider: str | None,
    ) -> None:
        # The clients pass settings that `_config.resolve_settings` checked; its same checks guard
        # a Transport built directly.
        check_api_key(api_key, provider)
        url = httpx.URL(check_base_url(base_url))
        if max_retries < 0:
            raise ConfigurationError("max_retries must be >= 0.")
        self.base_url = str(url)
        self.host = url.netloc.decode("ascii")
        self.provider = provider  # the preset's name: errors name its key variable and catalog
        self.timeout = timeout
        self.max_retries = max_retries
        self._api_key = api_key
        self._headers = {"User-Agent": _USER_AGENT, **(default_headers or {})}

    def build_request(
        self, client: httpx.Client | httpx.AsyncClient, call: _Call, deadline: float | None
    ) -> httpx.Request:
        # A multipart body (files=/data=) gets its Content-Type, boundary included, from httpx.
        headers = {"Content-Type": "application/json"} if call.json is not None else {}
        headers.update(self._headers)
        headers["Accept"] = (
            "text/event-stream" if call.stream else "*/*" if call.raw else "application/json"
        )
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        read = self.timeout.read
        if deadline is not None:
            read = max(min(read, deadline - time.monotonic()), 0.001)
        timeout = httpx.Timeout(
            connect=self.timeout.connect, read=read, write=read, pool=self.timeout.connect
        )
        return client.build_request(
            call.method,
            call.path if "://" in call.path else self.base_url + call.path,
            content=None if call.json is None else orjson.dumps(call.json),
            files=call.files,
            data=call.data,
            params=call.params,
            headers=headers,
            timeout=timeout,
        )

    def deadline(self) -> float | None:
        return None if self.timeout.total is None else time.monotonic() + self.timeout.total

    def check_deadline(self, deadline: float | None, sink: _Sink[Any]) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise APITimeoutError(
                f"The total deadline of {self.timeout.total:g} s passed talking to {self.host}",
                host=self.host,
                partial=sink.partial(),
            )

    # -- the one retry policy: classify the failure, then wait or raise --------------------------

    def retry_or_raise(
        self,
        attempt: int,
        exc: httpx.HTTPError | CNLLMError,
        call: _Call,
        sink: _Sink[Any] | None,
        deadline: float | None,
    ) -> float:
        """Seconds to wait before sending `call` again after `exc`; else raises `exc` as our error.

        Called inside the attempt loop's `except`, so a mapped error is chained to `exc`.
        """
        error, safe = self.classify(exc, call, sink)
        started = sink is not None and sink.started
        delay = None if started else self.retry_delay(attempt, error, deadline, safe)
        if delay is None:
            if error is exc:
                raise error
            raise error from exc
        return delay

    def classify(
        self, exc: httpx.HTTPError | CNLLMError, call: _Call, sink: _Sink[Any] | None
    ) -> tuple[CNLLMError, bool]:
        """`exc` as our error, and whether the server may not have acted on the call yet."""
        if isinstance(exc, httpx.HTTPError):
            error = self.connection_error(exc, sink)
            safe = call.idempotent or isinstance(exc, _SAFE_TO_RETRY)
            # A stream cut before its first chunk: nothing reached the caller, so resend it
            # (`retry_or_raise` never resends one that had started).
            return error, safe or isinstance(error, StreamInterruptedError)
        return exc, isinstance(exc, StreamInterruptedError)

    def retry_delay(
        self, attempt: int, error: CNLLMError, deadline: float | None, safe: bool
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to raise `error` now."""
        if attempt >= self.max_retries:
            return None
        wait: float | None = None
        if isinstance(error, APIStatusError):
            if error.status_code not in RETRY_STATUSES or isinstance(
                error, (InsufficientBalanceError, ModelNotFoundError)
            ):
                return None
            wait = error.retry_after
        elif not safe:
            return None
        if wait is None:
            base = min(0.5 * 2**attempt, 8.0)
            wait = base / 2 + random.uniform(0, base / 2)  # jitter: spread clients apart
        elif wait > MAX_RETRY_AFTER:
            return None
        if deadline is not None and time.monotonic() + wait > deadline:
            return None
        return wait

    def connection_error(self, exc: httpx.HTTPError, sink: _Sink[Any] | None = None) -> CNLLMError:
        """`exc` as our error; in a stream (`sink` holds a fold) a break is an interruption."""
        # httpx-aiohttp maps every aiohttp connection error (refused, server disconnected) to
        # httpx.ConnectTimeout: for those, trust the aiohttp exception it was raised from.
        cause = exc.__cause__
        from_aiohttp = type(cause).__module__.startswith("aiohttp")
        timed_out = isinstance(exc, httpx.TimeoutException) and (
            not from_aiohttp or isinstance(cause, TimeoutError)
        )
        what = "Timed out" if timed_out else "Connection failed"
        detail = str(exc) or type(exc).__name__
        if self._api_key:  # h11 quotes an illegal header value, and that may be "Bearer <key>"
            detail = detail.replace(self._api_key, "<api key>")
        cls = APITimeoutError if timed_out else APIConnectionError
        partial = None if sink is None else sink.partial()  # a dict only from a stream's sink
        if sink is not None and partial is not None and not timed_out:
            if not sink.started:
                return self.closed_early(partial, detail)
            return StreamInterruptedError(
                f"The stream from {self.host} broke: {detail}", partial=partial
            )
        return cls(f"{what} ({self.host}): {detail}", host=self.host, partial=partial)

    def closed_early(
        self, partial: dict[str, Any], detail: str | None = None, request_id: str | None = None
    ) -> StreamInterruptedError:
        """A stream that ended before its first event: what that usually means (issue 16.3)."""
        how = f" ({detail})" if detail else ""
        return StreamInterruptedError(
            f"{self.host} closed the stream before sending anything{how}; servers commonly do "
            "that for a prompt over the model's context length (llama.cpp does): shorten the "
            "prompt or lower max_tokens, and see the server's log",
            request_id=request_id,
            partial=partial,
            arrived=False,
        )

    # -- responses ------------------------------------------------------------------------------

    def http_error(self, response: httpx.Response, body: bytes, call: _Call) -> APIStatusError:
        return status_error(
            response.status_code, body, response.headers, model=call.model, provider=self.provider
        )

    def event_error(
        self, event: Mapping[str, Any], request_id: str | None, call: _Call
    ) -> APIStatusError:
        """An error body in a 2xx response or a stream event, as its error."""
        return error_from_event(
            event, request_id=request_id, model=call.model, provider=self.provider
        )

    def parse_body(self, response: httpx.Response, body: bytes, call: _Call) -> APIResponse:
        """A whole response as APIResponse, or the matching error raised."""
        if response.status_code >= 400:
            raise self.http_error(response, body, call)
        request_id = _request_id(response)
        if call.raw:
            return APIResponse({}, request_id, dict(response.headers), body)
        try:
            data = orjson.loads(body)  # JSON allows the blank lines DeepSeek sends while queued
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            shown = body.decode("utf-8", "replace").strip()[:200] or "an empty body"
            raise ProtocolError(
                f"Expected a JSON object from {self.host}, got: {shown}",
                status_code=response.status_code,
                request_id=request_id,
                body=shown,
            )
        if is_error_body(data):  # a few gateways answer 200 with an error body
            raise self.event_error(data, request_id, call)
        return APIResponse(
            normalize_completion(data),
            request_id or _text(data.get("request_id")),
            dict(response.headers),
        )

    def stream_answered_whole(self, response: httpx.Response) -> bool:
        """A stream request answered with an error status or a whole JSON/HTML body, not SSE."""
        kind = response.headers.get("content-type", "")
        return response.status_code >= 400 or kind.startswith(("application/json", "text/html"))

    def stream_error(self, response: httpx.Response, body: bytes, call: _Call) -> NoReturn:
        """Raise the error that a whole body (see `stream_answered_whole`) holds, or ProtocolError."""
        self.parse_body(response, body, call)  # raises the error the body carries, if any
        kind = response.headers.get("content-type", "")
        raise ProtocolError(
            f"Expected an event stream from {self.host}, got a whole {kind} body",
            status_code=response.status_code,
            request_id=_request_id(response),
        )

    def log(
        self, call: _Call, outcome: httpx.Response | Exception, attempt: int, started: float
    ) -> None:
        """One DEBUG line per attempt; never headers (they hold the key)."""
        if logger.isEnabledFor(logging.DEBUG):
            response = outcome if isinstance(outcome, httpx.Response) else None
            logger.debug(
                "%s %s%s -> %s request_id=%s attempt=%d elapsed=%.3fs",
                call.method,
                self.base_url,
                call.path,
                response.status_code if response is not None else type(outcome).__name__,
                _request_id(response) if response is not None else None,
                attempt + 1,
                time.monotonic() - started,
            )


class _Body:
    """The sink of a whole (non-stream) body: collects the reads, parses them at EOF."""

    __slots__ = ("call", "core", "pieces", "response")
    done = False
    started = False  # nothing reaches the caller before the whole body: always safe to resend

    def __init__(self, core: _Core, call: _Call, response: httpx.Response) -> None:
        self.core, self.call, self.response = core, call, response
        self.pieces: list[bytes] = []

    def feed(self, data: bytes) -> tuple[()]:
        self.pieces.append(data)
        return ()

    def finish(self) -> tuple[APIResponse]:
        return (self.core.parse_body(self.response, b"".join(self.pieces), self.call),)

    def partial(self) -> None:
        return None


class _Events:
    """The sink of one stream attempt: SSE decoding, one orjson parse per event, the fold.

    `feed` and `finish` are generators, so every chunk before an error event reaches the caller
    before that error is raised, however the events were cut into reads.
    """

    __slots__ = ("accumulator", "call", "core", "decoder", "done", "host", "request_id", "started")

    def __init__(self, core: _Core, call: _Call, request_id: str | None) -> None:
        self.core, self.call = core, call
        self.host = core.host
        self.request_id = request_id
        self.decoder = SSEDecoder()
        self.accumulator = StreamAccumulator()
        self.done = False
        self.started = False  # a chunk was parsed: from here on the stream is never sent again

    def partial(self) -> dict[str, Any]:
        return self.accumulator.completion()

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        return self._chunks(self.decoder.feed_raw(data))

    def finish(self) -> Iterator[dict[str, Any]]:
        """The last chunks at EOF; raises StreamInterruptedError if [DONE] never came."""
        yield from self._chunks(self.decoder.flush_raw())
        if not self.started and not self.done:
            raise self.core.closed_early(self.partial(), request_id=self.request_id)
        if not self.done:
            raise StreamInterruptedError(
                f"The stream from {self.host} ended without [DONE]",
                request_id=self.request_id,
                partial=self.accumulator.completion(),
            )

    def _chunks(self, events: list[bytes | ServerSentEvent]) -> Iterator[dict[str, Any]]:
        # The hot path of every stream: unnamed events arrive as bytes and go straight to orjson.
        add = self.accumulator.add
        for event in events:
            if isinstance(event, bytes):
                data, name = event, None
            else:
                data, name = event.data.encode(), event.event
            if data == b"[DONE]":
                self.done = True
                return
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                if not data.strip():
                    continue
                chunk = None
            if type(chunk) is not dict:
                shown = data[:200].decode("utf-8", "replace")
                raise ProtocolError(
                    f"Malformed stream event from {self.host}: {shown}",
                    request_id=self.request_id,
                    body=shown,
                    partial=self.accumulator.completion(),
                )
            if name == "error" or (
                ("error" in chunk or "choices" not in chunk) and is_error_body(chunk)
            ):
                error = self.core.event_error(chunk, self.request_id, self.call)
                error.partial = self.accumulator.completion()
                raise error
            add(chunk)
            self.started = True
            yield chunk


def _request_id(response: httpx.Response) -> str | None:
    return response.headers.get("x-request-id") or response.headers.get("request-id")


class Transport:
    """Sync HTTP for one base URL over one pooled httpx.Client (yours, if given: then never closed)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: Timeouts = Timeouts(),
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        provider: str | None = None,
    ) -> None:
        self._core = _Core(base_url, api_key, timeout, max_retries, default_headers, provider)
        self._owns_client = http_client is None
        self._client = http_client or httpx.Client()

    def __repr__(self) -> str:
        return f"Transport(base_url={self._core.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        params: Any = None,
        raw: bool = False,
        idempotent: bool | None = None,
        recover: Callable[[], dict[str, Any] | None] | None = None,
    ) -> APIResponse:
        """One whole response; `files`/`data`/`params` as in httpx; `raw=True`: bytes in `.content`.

        `idempotent` (default: True for GET, HEAD, OPTIONS, DELETE) lets any transport failure be
        retried, not only those where the server cannot have received the request. `recover`
        runs before each resend: the object it returns (e.g. the batch job a failed create made
        anyway) is the answer, and nothing is sent again; None: resend.
        """
        call = _call(method, path, json, files, data, params, raw, idempotent, recover)
        with contextlib.closing(
            self._attempts(call, functools.partial(_Body, self._core, call))
        ) as one:
            return next(one)

    def post(self, path: str, payload: dict[str, Any]) -> APIResponse:
        return self.request("POST", path, json=payload)

    def stream(self, path: str, payload: dict[str, Any]) -> ChatStream:
        return ChatStream(self, path, payload)

    def _attempts(
        self, call: _Call, open_sink: Callable[[httpx.Response], _Sink[T]]
    ) -> Generator[T, None, None]:
        """The attempt loop: send `call`, feed each read to a sink, retry as `_Core` decides."""
        core, client = self._core, self._client
        deadline = core.deadline()
        for attempt in range(core.max_retries + 1):
            started = time.monotonic()
            sink: _Sink[T] | None = None
            try:
                response = client.send(core.build_request(client, call, deadline), stream=True)
                try:
                    core.log(call, response, attempt, started)
                    if call.stream and core.stream_answered_whole(response):
                        core.stream_error(response, response.read(), call)
                    sink = open_sink(response)
                    for data in response.iter_bytes():
                        yield from sink.feed(data)
                        if sink.done:
                            return
                        core.check_deadline(deadline, sink)
                    yield from sink.finish()
                    return
                finally:
                    response.close()
            except (httpx.HTTPError, CNLLMError) as exc:
                if isinstance(exc, httpx.HTTPError):
                    core.log(call, exc, attempt, started)
                delay = core.retry_or_raise(attempt, exc, call, sink, deadline)
            time.sleep(delay)
            if call.recover is not None and (answer := call.recover()) is not None:
                yield cast("T", APIResponse(answer, request_id=None))  # only request() recovers
                return

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _StreamState:
    """What ChatStream and AsyncChatStream share: the current attempt's fold, id and headers."""

    def __init__(self, core: _Core, path: str, payload: dict[str, Any]) -> None:
        self._call = _Call("POST", path, payload, stream=True)
        self._core = core
        self._events = _Events(core, self._call, None)
        self.request_id: str | None = None
        self.headers: dict[str, str] = {}

    def completion(self) -> dict[str, Any]:
        return self._events.accumulator.completion()

    def _open(self, response: httpx.Response) -> _Events:
        """A fresh sink for each attempt (a retried stream starts its fold again)."""
        self.headers, self.request_id = dict(response.headers), _request_id(response)
        self._events = _Events(self._core, self._call, self.request_id)
        return self._events


class ChatStream(_StreamState):
    """The chunk dicts of one streamed completion; `.completion()` is the fold so far.

    Opens on first iteration; retried (as the transport's policy says) only before its first chunk.
    """

    def __init__(self, transport: Transport, path: str, payload: dict[str, Any]) -> None:
        super().__init__(transport._core, path, payload)
        self._transport = transport
        self._chunks: Generator[dict[str, Any], None, None] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._chunks is None:
            self._chunks = self._transport._attempts(self._call, self._open)
        return self._chunks

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._chunks is not None:
            self._chunks.close()


class AsyncTransport:
    """Async HTTP for one base URL over pooled httpx.AsyncClients (yours, if given).

    The default client runs on httpx-aiohttp's AiohttpTransport: httpx's own async pool collapses
    under hundreds of concurrent requests (encode/httpx#3215). Such a pool belongs to the event
    loop that opened it, so there is one default client per running loop (`_LoopPool`), opened on
    first use and closed when that loop shuts down (``asyncio.run`` does it), when the transport
    is dropped (closed on its loop), or, for a loop closed without ``shutdown_asyncgens()``, as
    soon as the transport opens a pool on another loop: one transport serves any number of
    ``asyncio.run`` calls, and forgetting ``aclose()`` leaves no unclosed session behind.
    A client you pass is used on every loop as it is, and never closed here.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: Timeouts = Timeouts(),
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        provider: str | None = None,
    ) -> None:
        self._core = _Core(base_url, api_key, timeout, max_retries, default_headers, provider)
        self._http_client = http_client
        # A pool's aiohttp session holds its loop, so this map is pruned by hand (`_client`,
        # `_forget`), never left to weak references; dropping the transport closes every pool.
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        weakref.finalize(self, _close_pools, self._pools)

    def __repr__(self) -> str:
        return f"AsyncTransport(base_url={self._core.base_url!r})"

    @property
    def _client(self) -> httpx.AsyncClient:
        """The caller's client, else the running loop's default one (opened on first use)."""
        if self._http_client is not None:
            return self._http_client
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            # A new loop: loops closed without shutdown_asyncgens() are released now.
            for other in list(self._pools):  # a copy: loops in other threads may add theirs
                if other.is_closed() and (stale := self._pools.pop(other, None)) is not None:
                    stale.close_soon()
            forget = functools.partial(_forget, weakref.ref(self), loop)
            pool = self._pools[loop] = _LoopPool(loop, forget)
        return pool.client

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        params: Any = None,
        raw: bool = False,
        idempotent: bool | None = None,
        recover: Callable[[], Awaitable[dict[str, Any] | None]] | None = None,
    ) -> APIResponse:
        """The async twin of `Transport.request` (`recover` is awaited)."""
        call = _call(method, path, json, files, data, params, raw, idempotent, recover)
        one = self._attempts(call, functools.partial(_Body, self._core, call))
        try:
            return await anext(one)
        finally:
            await one.aclose()

    async def post(self, path: str, payload: dict[str, Any]) -> APIResponse:
        return await self.request("POST", path, json=payload)

    def stream(self, path: str, payload: dict[str, Any]) -> AsyncChatStream:
        return AsyncChatStream(self, path, payload)

    async def _attempts(
        self, call: _Call, open_sink: Callable[[httpx.Response], _Sink[T]]
    ) -> AsyncGenerator[T, None]:
        """The async twin of `Transport._attempts`."""
        core, client = self._core, self._client
        deadline = core.deadline()
        for attempt in range(core.max_retries + 1):
            started = time.monotonic()
            sink: _Sink[T] | None = None
            try:
                response = await client.send(
                    core.build_request(client, call, deadline), stream=True
                )
                try:
                    core.log(call, response, attempt, started)
                    if call.stream and core.stream_answered_whole(response):
                        core.stream_error(response, await response.aread(), call)
                    sink = open_sink(response)
                    async for data in response.aiter_bytes():
                        for item in sink.feed(data):
                            yield item
                        if sink.done:
                            return
                        core.check_deadline(deadline, sink)
                    for item in sink.finish():
                        yield item
                    return
                finally:
                    await response.aclose()
            except (httpx.HTTPError, CNLLMError) as exc:
                if isinstance(exc, httpx.HTTPError):
                    core.log(call, exc, attempt, started)
                delay = core.retry_or_raise(attempt, exc, call, sink, deadline)
            await asyncio.sleep(delay)
            if call.recover is not None and (answer := await call.recover()) is not None:
                yield cast("T", APIResponse(answer, request_id=None))  # only request() recovers
                return

    async def aclose(self) -> None:
        """Close the running loop's default client (the next request opens a new one).

        Other loops' clients close when their loops shut down; a caller's client is left open.
        """
        pool = self._pools.get(asyncio.get_running_loop())
        if pool is not None:
            await pool.aclose()

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncChatStream(_StreamState):
    """The async twin of ChatStream: `async with` and `async for`."""

    def __init__(self, transport: AsyncTransport, path: str, payload: dict[str, Any]) -> None:
        super().__init__(transport._core, path, payload)
        self._transport = transport  # the running loop's client is looked up when the stream opens
        self._chunks: AsyncGenerator[dict[str, Any], None] | None = None

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        if self._chunks is None:
            self._chunks = self._transport._attempts(self._call, self._open)
        return self._chunks

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._chunks is not None:
            await self._chunks.aclose()


class _LoopPool:
    """One loop's default client, closed when that loop shuts down or when it is dropped.

    There is no loop-shutdown callback in asyncio; what every proper loop runner does at the end
    (``asyncio.run``, ``asyncio.Runner``, pytest-asyncio, uvloop) is ``loop.shutdown_asyncgens()``,
    which closes each async generator still suspended on the loop. So a tiny generator is started
    on the loop and left suspended; its ``finally`` closes the client. Its finalizer hook is a
    no-op instead of the loop's, so the generator never keeps the loop alive or touches a closed
    one; a pool dropped any other way is closed by `close_soon`.
    """

    __slots__ = ("_aiohttp", "_loop", "_sentinel", "client")

    def __init__(self, loop: asyncio.AbstractEventLoop, forget: Callable[[], object]) -> None:
        from httpx_aiohttp import AiohttpTransport  # imported here: pulls in aiohttp

        # AiohttpTransport's default pool holds 100 connections, so 200 concurrent calls run in
        # two waves (figures: benchmarks/README.md, "The async transport").
        # Agent fan-outs and batch jobs reach hundreds of calls at once; the gateway's per-key
        # concurrency limit, not our pool, should be what queues them. aiohttp reads only
        # max_connections (its `limit`); idle connections close after keepalive_expiry.
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        self._aiohttp = AiohttpTransport(limits=limits)
        self.client = httpx.AsyncClient(transport=self._aiohttp)
        self._loop = loop
        self._sentinel = _close_at_shutdown(self.client, forget)
        hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=_leave_to_close_soon)
        try:  # step it to its `yield` (that registers it with the running loop); nothing awaits
            with contextlib.suppress(StopIteration):
                self._sentinel.asend(None).send(None)
        finally:
            sys.set_asyncgen_hooks(*hooks)

    async def aclose(self) -> None:
        await self._sentinel.aclose()

    def close_soon(self) -> None:
        """Close the client without awaiting: on its loop if that still runs callbacks."""
        if not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile by another thread
                self._loop.call_soon_threadsafe(_spawn, self.client.aclose())
                return
        # The loop is closed, so nothing can run on it: mark the session closed (no "Unclosed"
        # warnings); the sockets went with the loop, as asyncio leaves every transport it had.
        from aiohttp import ClientSession

        session = self._aiohttp.client  # None until the first request opened it
        if isinstance(session, ClientSession) and session.connector is not None:
            session.connector._close()  # the synchronous part of aiohttp's close
            session.detach()


def _leave_to_close_soon(sentinel: object) -> None:
    """The sentinel's finalizer: its pool is closed by `_LoopPool.close_soon`, not by the loop."""


_CLOSING: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks


def _spawn(closing: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(closing)
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


def _forget(transport: weakref.ref[AsyncTransport], loop: asyncio.AbstractEventLoop) -> None:
    owner = transport()
    if owner is not None:
        owner._pools.pop(loop, None)


def _close_pools(pools: dict[asyncio.AbstractEventLoop, _LoopPool]) -> None:
    """The dropped transport's pools, each closed on its own loop."""
    while pools:
        pools.popitem()[1].close_soon()


async def _close_at_shutdown(
    client: httpx.AsyncClient, forget: Callable[[], object]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        forget()
        await client.aclose()
