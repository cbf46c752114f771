"""Delivery order: every piece that arrived before a stream failure reaches the caller first.

The offline gateway writes event by event; real proxies (LiteLLM, nginx buffering) often hand
several events and then an error event to the client in one network read. A tiny raw HTTP server
here writes a scripted response either way, so both read patterns are exercised on every stream
surface (SDK, ChatCNLLM, CNLLM; sync and async).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from _surfaces import STREAM_SURFACES, Surface

from cn_llm_client.errors import RateLimitError, StreamInterruptedError


def _event(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _chunk(text: str) -> bytes:
    return _event(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "qwen3-max",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        }
    )


ERROR_EVENT = _event({"error": {"code": "rate_limit_exceeded", "message": "Too many requests"}})


class RawServer:
    """Answers every request with `events`, in one write (`whole`) or one write per event."""

    def __init__(self) -> None:
        self.events: list[bytes] = []
        self.whole = True
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        self.requests += 1
        # Close-delimited body: no framing, so the events are exactly the bytes written.
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        )
        if self.whole:
            writer.write(b"".join(self.events))
        else:
            for event in self.events:
                writer.write(event)
                await writer.drain()
                await asyncio.sleep(0.02)
        await writer.drain()
        writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


@pytest.mark.parametrize("whole", [True, False], ids=["one-write", "event-by-event"])
@pytest.mark.parametrize("surface", STREAM_SURFACES, ids=str)
def test_chunks_before_an_error_event_reach_the_caller_before_the_error(
    raw_server: RawServer, surface: Surface, whole: bool
) -> None:
    """Chunks then an error event (in one read or several): the chunks arrive, then the error."""
    raw_server.events = [_chunk("Hel"), _chunk("lo"), ERROR_EVENT]
    raw_server.whole = whole
    pieces: list[str] = []
    with pytest.raises(RateLimitError) as info:
        surface.call(raw_server.base_url, "Hello", pieces=pieces, max_retries=0)
    assert [p for p in pieces if p] == ["Hel", "lo"]
    assert "Too many requests" in str(info.value)


@pytest.mark.parametrize("whole", [True, False], ids=["one-write", "event-by-event"])
@pytest.mark.parametrize("surface", STREAM_SURFACES, ids=str)
def test_chunks_before_a_cut_reach_the_caller_before_the_error(
    raw_server: RawServer, surface: Surface, whole: bool
) -> None:
    """Chunks then EOF without [DONE]: the chunks arrive, then StreamInterruptedError."""
    raw_server.events = [_chunk("Hel"), _chunk("lo")]
    raw_server.whole = whole
    pieces: list[str] = []
    before = raw_server.requests
    with pytest.raises(StreamInterruptedError):
        surface.call(raw_server.base_url, "Hello", pieces=pieces, max_retries=2)
    assert [p for p in pieces if p] == ["Hel", "lo"]
    assert raw_server.requests - before == 1  # text had reached the caller: never sent again


@pytest.mark.parametrize("surface", STREAM_SURFACES, ids=str)
def test_a_stream_closed_before_its_first_event_says_so_on_every_surface(
    raw_server: RawServer, surface: Surface
) -> None:
    """A stream closed before any event (llama.cpp, over-long prompt): a message that says so."""
    raw_server.events = []
    raw_server.whole = True
    with pytest.raises(StreamInterruptedError) as info:
        surface.call(raw_server.base_url, "Hello", max_retries=0)
    assert "closed the stream before sending anything" in str(info.value)
    assert "context length" in str(info.value)
