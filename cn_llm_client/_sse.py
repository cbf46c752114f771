"""Incremental server-sent-events decoder: bytes in, events out.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'data: {"a": 1}\\n\\ndata: [DO')
    [ServerSentEvent(event=None, data='{"a": 1}', id=None, retry=None)]
    >>> decoder.feed(b"NE]\\n\\n")
    [ServerSentEvent(event=None, data='[DONE]', id=None, retry=None)]

Written by hand rather than taken from httpx-sse: that one decodes text and walks it line by line
in Python, while an LLM stream is mostly single-line `data:` events, which this decoder cuts out of
the bytes with `bytes.split` (C speed) and decodes once per event, so a UTF-8 character split
across reads is always whole when decoded.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SSEDecoder", "ServerSentEvent"]


class ServerSentEvent(NamedTuple):
    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it reads as they come; `flush()` at EOF.

    Line ends may be CR, LF or CRLF (also split across reads). Comments and unknown fields are
    ignored; several `data:` lines join with `\\n`; an event without data is not dispatched (as the
    HTML spec says). At EOF, complete lines of an unfinished event are still dispatched, so a
    server that ends with `data: [DONE]\\n` and no blank line is understood.
    """

    __slots__ = ("_buffer", "_last_id")

    def __init__(self) -> None:
        self._buffer = b""
        self._last_id: str | None = None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        buffer = self._buffer + data if self._buffer else data
        if b"\r" in buffer:
            # A trailing CR may be the first half of a CRLF: keep it for the next read.
            held = buffer.endswith(b"\r")
            if held:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buffer += b"\r"
        blocks = buffer.split(b"\n\n")
        self._buffer = blocks.pop()
        if not blocks:
            return []
        events: list[ServerSentEvent] = []
        append = events.append
        last_id = self._last_id
        for block in blocks:
            if block[:6] == b"data: " and b"\n" not in block:  # the usual single-line event
                append(ServerSentEvent(None, block[6:].decode("utf-8", "replace"), last_id, None))
            elif block:
                event = self._decode_block(block)
                last_id = self._last_id
                if event is not None:
                    append(event)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """Dispatch what is left at EOF (complete lines only) and reset."""
        buffer, self._buffer = self._buffer, b""
        if buffer.endswith(b"\r"):
            buffer = buffer[:-1] + b"\n"
        cut = buffer.rfind(b"\n")
        if cut < 0:
            return []
        event = self._decode_block(buffer[:cut])
        return [] if event is None else [event]

    def _decode_block(self, block: bytes) -> ServerSentEvent | None:
        data: list[bytes] = []
        event: bytes | None = None
        retry: int | None = None
        for line in block.split(b"\n"):
            if not line or line[:1] == b":":
                # Blank lines occur only at a block's start (a run of 3+ line ends): no event yet.
                continue
            field, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                event = value
            elif field == b"id":
                if b"\0" not in value:
                    self._last_id = value.decode("utf-8", "replace")
            elif field == b"retry" and value.isdigit():
                retry = int(value)
        if not data:
            return None
        return ServerSentEvent(
            event.decode("utf-8", "replace") if event else None,
            b"\n".join(data).decode("utf-8", "replace"),
            self._last_id,
            retry,
        )
