"""CostMeter: running totals of calls, tokens and cost, with an optional spending limit.

    >>> from cn_llm_client import CNLLMClient
    >>> meter = CostMeter(limit_usd=0.50)
    >>> client = CNLLMClient(meter=meter)
    >>> response = client.chat("qwen3-max", [{"role": "user", "content": "Hello!"}])
    >>> meter
    CostMeter(calls=1, cost_usd=0.000036, limit_usd=0.5)

The client charges the meter after each call (a stream: when it completes) and calls
:meth:`CostMeter.check` before each request, so a spent limit raises
:class:`BudgetExceededError` before the next request goes out. One meter may be shared by several
clients and threads. The limit is checked before a call and charged after it (a call's cost is
known only from its answer), so calls already in flight when the limit is reached still finish:
with N concurrent calls the spend can pass the limit by up to N calls' cost.
"""

from __future__ import annotations

import threading
from typing import Any

from .errors import BudgetExceededError

__all__ = ["CostMeter"]


class CostMeter:
    """Thread-safe totals; ``limit_usd=None`` means no limit.

    >>> meter = CostMeter(limit_usd=0.01)
    >>> meter.charge({"prompt_tokens": 1000, "completion_tokens": 500}, cost=0.02)
    >>> meter.check()  # the client calls this before every request
    Traceback (most recent call last):
    cn_llm_client.errors.BudgetExceededError: Budget spent: $0.020000 of $0.010000 used. ...
    """

    def __init__(self, limit_usd: float | None = None) -> None:
        if limit_usd is not None and limit_usd < 0:
            raise ValueError(f"limit_usd must be >= 0 or None, got {limit_usd!r}")
        self.limit_usd = limit_usd
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self._lock = threading.Lock()

    def charge(self, usage: dict[str, Any] | None, cost: float | None = None) -> None:
        """Add one call: its usage dict (may be None) and its cost in USD (None = unknown)."""
        usage = usage or {}
        with self._lock:
            self.calls += 1
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
            self.cost_usd += float(cost or 0.0)

    def check(self) -> None:
        """Raise BudgetExceededError when the limit is spent."""
        with self._lock:
            spent, limit = self.cost_usd, self.limit_usd
        if limit is not None and spent >= limit:
            raise BudgetExceededError(
                f"Budget spent: ${spent:.6f} of ${limit:.6f} used. "
                "Raise CostMeter(limit_usd=...) or use a new meter to continue."
            )

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the totals."""
        with self._lock:
            return {
                "calls": self.calls,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": self.cost_usd,
                "limit_usd": self.limit_usd,
            }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        s = self.snapshot()
        return f"CostMeter(calls={s['calls']}, cost_usd={s['cost_usd']:.6f}, limit_usd={s['limit_usd']})"
