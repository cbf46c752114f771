"""The clients' stream objects: what ``CNLLMClient.stream`` / ``AsyncCNLLMClient.stream`` return.

``MeteredStream`` / ``AsyncMeteredStream`` wrap the transport's ``ChatStream`` (pricing usage,
post-processing the fold), ``SearchStream`` / ``AsyncSearchStream`` run Kimi's `$web_search`
rounds as one stream, ``AsyncPreparedStream`` awaits the call's document uploads before it
opens. Each sync/async pair shares its state and rules in one base class; only the iteration
protocol differs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client_base import Messages, _ClientBase
    from ._transport import AsyncChatStream, ChatStream
    from ._web_search import SearchRounds
    from .types import ChatCompletion, ChatCompletionChunk

__all__ = [
    "AsyncMeteredStream",
    "AsyncPreparedStream",
    "AsyncSearchStream",
    "MeteredStream",
    "SearchStream",
]


class _MeteredBase:
    """Delegates to the transport's stream; prices the usage chunk as it passes (so readers of
    the chunks see usage["cost"]) and post-processes the fold once it completes."""

    def __init__(self, inner: Any, model: str, client: _ClientBase) -> None:
        self._inner = inner
        self._model = model
        self._client = client
        self._final: ChatCompletion | None = None

    @property
    def request_id(self) -> str | None:
        return self._inner.request_id  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        return self._inner.headers  # type: ignore[no-any-return]

    def completion(self) -> ChatCompletion:
        """The fold so far; after the stream completed, with usage["cost"] and request_id."""
        return self._final if self._final is not None else self._inner.completion()  # type: ignore[no-any-return]

    def _priced(self, chunk: Any) -> Any:
        usage = chunk.get("usage")
        if usage:
            self._client._fill_cost(self._model, usage)
        return chunk

    def _complete(self) -> None:
        if self._final is None:
            completion = self._inner.completion()
            self._final = self._client._finish(self._model, completion, self.request_id)


class MeteredStream(_MeteredBase):
    """The client's view of a ``ChatStream``: iterate chunk dicts; use as a context manager."""

    _inner: ChatStream

    def __init__(self, inner: ChatStream, model: str, client: _ClientBase) -> None:
        super().__init__(inner, model, client)
        self._chunks: Iterator[dict] | None = None

    def __iter__(self) -> MeteredStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        # Not a generator: an abandoned iterator must not close the underlying stream.
        if self._chunks is None:
            self._chunks = iter(self._inner)  # opens the stream
        try:
            return self._priced(next(self._chunks))
        except StopIteration:
            self._complete()
            raise

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> MeteredStream:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)


class AsyncMeteredStream(_MeteredBase):
    """The async client's view of an ``AsyncChatStream``."""

    _inner: AsyncChatStream

    def __init__(self, inner: AsyncChatStream, model: str, client: _ClientBase) -> None:
        super().__init__(inner, model, client)
        self._chunks: AsyncIterator[dict] | None = None

    def __aiter__(self) -> AsyncMeteredStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._chunks is None:
            self._chunks = aiter(self._inner)
        try:
            return self._priced(await anext(self._chunks))
        except StopAsyncIteration:
            self._complete()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> AsyncMeteredStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._inner.__aexit__(*exc)


def _held_chunk(chunk: dict) -> bool:
    """A chunk a search round holds back until it is known to be the answer's: tool-call
    fragments (the `$web_search` call), the finish reason and usage."""
    if chunk.get("usage"):
        return True
    return any(
        choice.get("finish_reason") or (choice.get("delta") or {}).get("tool_calls")
        for choice in chunk.get("choices") or ()
    )


class _OpenedLater:
    """A stream whose underlying stream (``_current``) opens later: until then no request id,
    no headers and an empty fold."""

    _current: Any = None

    @property
    def request_id(self) -> str | None:
        return None if self._current is None else self._current.request_id  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        return {} if self._current is None else self._current.headers  # type: ignore[no-any-return]

    def completion(self) -> dict:
        return {} if self._current is None else self._current.completion()  # type: ignore[no-any-return]


class _SearchBase(_OpenedLater):
    """Kimi's search rounds as one stream (`_web_search.SearchRounds`).

    Each round streams; its text goes out as it arrives, while tool-call fragments, the finish
    reason and usage are held until the round ends: a round that only calls `$web_search` is
    echoed (its held chunks dropped) and the next round starts; the answer's are sent, the
    usage chunk carrying the usage summed over every round (as ``.completion()`` does).
    """

    def __init__(self, open_round: Callable[[Messages], Any], rounds: SearchRounds) -> None:
        self._open = open_round
        self._rounds = rounds
        self._final: dict | None = None
        self._held: list[dict] = []

    def completion(self) -> dict:
        """The answer (usage summed over the rounds) once complete; else the round so far."""
        return self._final if self._final is not None else super().completion()

    def _start_round(self, stream: Any) -> None:
        self._current = stream
        self._held = []

    def _passes(self, chunk: dict) -> bool:
        """True for a chunk to send now; False: held until the round ends (`_held_chunk`)."""
        if _held_chunk(chunk):
            self._held.append(chunk)
            return False
        return True

    def _end_round(self, completion: dict) -> bool:
        """True when another round follows; else the answer is final."""
        if self._rounds.next(completion):
            return True
        self._final = self._rounds.finish(completion)
        return False

    def _answer_tail(self) -> list[dict]:
        """The answer round's held chunks, the usage chunk carrying the summed usage."""
        assert self._final is not None
        usage = self._final.get("usage")
        return [{**chunk, "usage": usage} if chunk.get("usage") else chunk for chunk in self._held]


class SearchStream(_SearchBase):
    """`CNLLMClient.stream` with Kimi's `$web_search`: the interface of ``MeteredStream``."""

    def __init__(
        self, open_round: Callable[[Messages], MeteredStream], rounds: SearchRounds
    ) -> None:
        super().__init__(open_round, rounds)
        self._chunks: Iterator[dict] | None = None

    def __iter__(self) -> SearchStream:
        return self

    def __next__(self) -> dict:
        if self._chunks is None:
            self._chunks = self._run()
        return next(self._chunks)

    def _run(self) -> Iterator[dict]:
        while True:
            with self._open(self._rounds.messages) as stream:
                self._start_round(stream)
                yield from (chunk for chunk in stream if self._passes(chunk))
            if not self._end_round(stream.completion()):
                break
        yield from self._answer_tail()

    def close(self) -> None:
        if self._chunks is not None:
            self._chunks.close()  # type: ignore[attr-defined]

    def __enter__(self) -> SearchStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncSearchStream(_SearchBase):
    """`AsyncCNLLMClient.stream` with Kimi's `$web_search`: ``AsyncMeteredStream``'s interface."""

    def __init__(
        self, open_round: Callable[[Messages], AsyncMeteredStream], rounds: SearchRounds
    ) -> None:
        super().__init__(open_round, rounds)
        self._chunks: AsyncIterator[dict] | None = None

    def __aiter__(self) -> AsyncSearchStream:
        return self

    async def __anext__(self) -> dict:
        if self._chunks is None:
            self._chunks = self._run()
        return await anext(self._chunks)

    async def _run(self) -> AsyncIterator[dict]:
        while True:
            async with self._open(self._rounds.messages) as stream:
                self._start_round(stream)
                async for chunk in stream:
                    if self._passes(chunk):
                        yield chunk
            if not self._end_round(stream.completion()):
                break
        for chunk in self._answer_tail():
            yield chunk

    async def aclose(self) -> None:
        if self._chunks is not None:
            await self._chunks.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> AsyncSearchStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class AsyncPreparedStream(_OpenedLater):
    """An async stream that needs an await before it opens (the call's documents to upload):
    ``prepare()`` runs on ``async with`` or the first ``async for`` step."""

    def __init__(self, prepare: Callable[[], Awaitable[Any]]) -> None:
        self._prepare = prepare

    async def _opened(self) -> Any:
        if self._current is None:
            self._current = await self._prepare()
            await self._current.__aenter__()
        return self._current

    def __aiter__(self) -> AsyncPreparedStream:
        return self

    async def __anext__(self) -> dict:
        return await (await self._opened()).__anext__()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        if self._current is not None:
            await self._current.aclose()

    async def __aenter__(self) -> AsyncPreparedStream:
        await self._opened()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._current is not None:
            await self._current.__aexit__(*exc)
