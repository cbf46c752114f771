"""Incremental server-sent-events decoder: bytes in, events out.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'data: {"a": 1}\\n\\ndata: [DO')
    [ServerSentEvent(event=None, data='{"a": 1}', id=None, retry=None)]
    >>> decoder.feed(b"NE]\\n\\n")
    [ServerSentEvent(event=None, data='[DONE]', id=None, retry=None)]

The hot path of a chat stream is `feed_raw`: an unnamed event comes out as its `data` bytes, ready
for `orjson.loads` (which parses UTF-8 bytes directly), with no str decode and no object per event:

    >>> SSEDecoder().feed_raw(b'data: {"a": 1}\\n\\nevent: error\\ndata: {}\\n\\n')
    [b'{"a": 1}', ServerSentEvent(event='error', data='{}', id=None, retry=None)]

Written by hand rather than taken from httpx-sse: that one decodes text and walks it line by line
in Python, while an LLM stream is mostly single-line `data:` events. When every complete event of a
read is one (checked with two `bytes.count` calls), one `bytes.split` cuts out all their payloads
at C speed; anything else takes the line-by-line path. Events are cut from bytes and decoded whole,
so a UTF-8 character split across reads is always complete when decoded.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SSEDecoder", "ServerSentEvent"]

_SEPARATOR = b"\n\ndata: "  # the end of one plain data event and the start of the next


class ServerSentEvent(NamedTuple):
    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it reads as they come; `flush()` at EOF (or `feed_raw` / `flush_raw`).

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
        """The events that `data` completes, as ServerSentEvent (data decoded to str)."""
        plain, pieces = self._cut(data)
        if plain:
            last_id = self._last_id
            return [ServerSentEvent(None, p.decode("utf-8", "replace"), last_id) for p in pieces]
        events = []
        for block in pieces:
            event = self._event(block)
            if event is not None:
                events.append(event)
        return events

    def feed_raw(self, data: bytes) -> list[bytes | ServerSentEvent]:
        """Like `feed`, but an event without an `event:` name comes as its `data` bytes."""
        plain, pieces = self._cut(data)
        if plain:
            return pieces  # type: ignore[return-value]  # a list of bytes is a list of events
        events: list[bytes | ServerSentEvent] = []
        for block in pieces:
            raw = self._raw(block)
            if raw is not None:
                events.append(raw)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """Dispatch what is left at EOF (complete lines only) and reset."""
        event = self._event(self._rest())
        return [] if event is None else [event]

    def flush_raw(self) -> list[bytes | ServerSentEvent]:
        """`flush` in the form of `feed_raw`."""
        raw = self._raw(self._rest())
        return [] if raw is None else [raw]

    def _cut(self, data: bytes) -> tuple[bool, list[bytes]]:
        """Buffer `data`; return (True, payloads) when every complete event is a plain one-line
        `data: ` event, else (False, blocks) with each complete event's raw lines."""
        buffer = self._buffer + data if self._buffer else data
        if b"\r" in buffer:
            # A trailing CR may be the first half of a CRLF: keep it for the next read.
            held = buffer.endswith(b"\r")
            if held:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buffer += b"\r"
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer
            return True, []
        # Plain when every line end before `end` belongs to a separator: then that part holds
        # nothing but one-line `data: ` events (no comments, names, ids or blank-line runs).
        if buffer.startswith(b"data: "):
            if buffer.find(b"\n") == end:  # one event (a read per event: skip the counting)
                self._buffer = buffer[end + 2 :] if end + 2 < len(buffer) else b""
                return True, [buffer[6:end]]
            if buffer.count(b"\n", 0, end) == 2 * buffer.count(_SEPARATOR, 0, end):
                self._buffer = buffer[end + 2 :] if end + 2 < len(buffer) else b""
                return True, buffer[6:end].split(_SEPARATOR)
        blocks = buffer.split(b"\n\n")
        self._buffer = blocks.pop()
        return False, blocks

    def _rest(self) -> bytes:
        """The complete lines left at EOF; the decoder starts afresh."""
        buffer, self._buffer = self._buffer, b""
        if buffer.endswith(b"\r"):
            buffer = buffer[:-1] + b"\n"
        cut = buffer.rfind(b"\n")
        return buffer[:cut] if cut > 0 else b""

    def _event(self, block: bytes) -> ServerSentEvent | None:
        fields = self._fields(block)
        return None if fields is None else self._decoded(*fields)

    def _raw(self, block: bytes) -> bytes | ServerSentEvent | None:
        fields = self._fields(block)
        if fields is None:
            return None
        return fields[1] if fields[0] is None else self._decoded(*fields)

    def _decoded(self, name: bytes | None, data: bytes, retry: int | None) -> ServerSentEvent:
        return ServerSentEvent(
            None if name is None else name.decode("utf-8", "replace"),
            data.decode("utf-8", "replace"),
            self._last_id,
            retry,
        )

    def _fields(self, block: bytes) -> tuple[bytes | None, bytes, int | None] | None:
        """(event name, data, retry) of one event's lines, or None when it has no data."""
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
                event = value or None  # "event:" with no name: the default
            elif field == b"id":
                if b"\0" not in value:
                    self._last_id = value.decode("utf-8", "replace")
            elif field == b"retry" and value.isdigit():
                retry = int(value)
        if not data:
            return None
        return event, b"\n".join(data), retry
