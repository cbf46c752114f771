"""Scripted faults: what the next requests to the emulator suffer.

    gw.push(Fault.status(429, retry_after=1), Fault.cut_stream(after_events=3))

Faults wait in a queue; each request to `/v1/...` takes the fault at its head, which stays there
until it has been applied `times` times. Another process scripts the same faults over HTTP:
`POST /_emulator/faults` with `{"kind": "status", "http_status": 429, "retry_after": 1}` (or a list),
`DELETE /_emulator/faults` clears the queue.

Non-stream requests read the stream faults as their closest equivalent: `keepalive` sends blank
lines before the JSON body (DeepSeek's queueing), `stall` holds the body after the headers,
`cut_stream` / `malformed_line` / `error_event` / `no_done` leave the body untouched.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Fault", "FaultQueue"]

KINDS = frozenset(
    {
        "status",
        "non_json_200",
        "truncated_json",
        "cut_stream",
        "error_event",
        "malformed_line",
        "stall",
        "keepalive",
        "no_done",
        "slow",
    }
)


@dataclass(frozen=True)
class Fault:
    """One scripted fault; build it with the class methods below.

    >>> from cn_llm_client import CNLLMClient, StreamInterruptedError
    >>> from cn_llm_client.testing import FakeGateway
    >>> with FakeGateway() as gw:
    ...     client = CNLLMClient(api_key=gw.api_key, base_url=gw.base_url)
    ...     gw.push(Fault.cut_stream(after_events=3))  # the connection drops mid-stream
    ...     try:
    ...         list(client.chat_stream("qwen3-max", [{"role": "user", "content": "Tell me"}]))
    ...     except StreamInterruptedError as e:
    ...         partial = e.partial
    >>> partial["choices"][0]["message"]["content"]  # nothing is lost
    '[qwen3-max] Tell'
    """

    kind: str
    times: int = 1
    http_status: int = 200
    retry_after: float | str | None = None
    body: dict[str, Any] | str | None = None
    html: bool = False
    empty: bool = False
    after_events: int = 0
    code: str | None = None
    seconds: float = 0.0
    count: int = 0
    interval: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {sorted(KINDS)}")
        if self.times < 1:
            raise ValueError("times must be at least 1")

    @classmethod
    def status(
        cls,
        http_status: int,
        *,
        retry_after: float | str | None = None,
        code: str | None = None,
        body: dict[str, Any] | str | None = None,
        html: bool = False,
        empty: bool = False,
        times: int = 1,
    ) -> Fault:
        """An HTTP error: the mode's JSON shape, or `body` as given, an HTML page, or nothing."""
        return cls("status", times, http_status, retry_after, body, html, empty, code=code)

    @classmethod
    def non_json_200(cls, *, times: int = 1) -> Fault:
        """A 200 whose body is an HTML page instead of JSON."""
        return cls("non_json_200", times)

    @classmethod
    def truncated_json(cls, *, times: int = 1) -> Fault:
        """A 200 whose JSON body stops halfway."""
        return cls("truncated_json", times)

    @classmethod
    def cut_stream(cls, after_events: int, *, times: int = 1) -> Fault:
        """The connection drops after `after_events` data events."""
        return cls("cut_stream", times, after_events=after_events)

    @classmethod
    def error_event(
        cls, after_events: int, *, code: str = "server_error", status: int = 500, times: int = 1
    ) -> Fault:
        """An `{"error": ...}` event after `after_events` events, then the stream ends."""
        return cls("error_event", times, http_status=status, after_events=after_events, code=code)

    @classmethod
    def malformed_line(cls, after_events: int, *, times: int = 1) -> Fault:
        """A `data:` line that is not JSON after `after_events` events; the stream goes on."""
        return cls("malformed_line", times, after_events=after_events)

    @classmethod
    def stall(cls, seconds: float, *, after_events: int = 0, times: int = 1) -> Fault:
        """Silence for `seconds` after `after_events` events; the stream then goes on."""
        return cls("stall", times, seconds=seconds, after_events=after_events)

    @classmethod
    def keepalive(cls, count: int, *, interval: float = 0.0, times: int = 1) -> Fault:
        """`count` `: keep-alive` comments (blank lines for non-stream), `interval` s apart."""
        return cls("keepalive", times, count=count, interval=interval)

    @classmethod
    def no_done(cls, *, times: int = 1) -> Fault:
        """The stream ends cleanly but without `data: [DONE]`."""
        return cls("no_done", times)

    @classmethod
    def slow(cls, seconds: float, *, times: int = 1) -> Fault:
        """Wait `seconds` before answering at all."""
        return cls("slow", times, seconds=seconds)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """The fault described by a JSON object (the control endpoint's body)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; allowed: {sorted(names)}")
        return cls(**data)


class FaultQueue:
    """Thread-safe queue of faults; `take()` hands out the head fault once per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[list[Any]] = deque()  # [fault, uses left]

    def push(self, *faults: Fault) -> None:
        with self._lock:
            self._queue.extend([fault, fault.times] for fault in faults)

    def take(self) -> Fault | None:
        with self._lock:
            if not self._queue:
                return None
            head = self._queue[0]
            head[1] -= 1
            if head[1] == 0:
                self._queue.popleft()
            fault: Fault = head[0]
            return fault

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)
