"""Share one API key's concurrency limit between the workers of a distributed job.

AIsa limits each key to a number of requests in flight (Free 5, Starter 20, Growth 50). A batch
job on Ray, Spark or Dask runs many workers with the same key; if each worker opens as many
requests as it likes, the gateway answers the excess with 429s. The simplest scheme that is
correct needs no coordination at run time: give every worker a fixed share of the limit, so that
``workers × per_worker ≤ limit`` holds by construction, even while workers start and stop.

    >>> concurrency_limit("starter")
    20
    >>> split_limit(20, workers=3)           # 3 workers × 6 requests = 18 ≤ 20
    6

On Ray Data: a fixed actor pool (``ActorPoolStrategy(size=workers)``; for an autoscaling pool
split over ``max_size``) whose actors each run at most ``split_limit(limit, workers)`` requests
at once (``examples/ray_batch.py``, ``docs/scale-out.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["AISA_TIERS", "concurrency_limit", "split_limit"]

AISA_TIERS: Mapping[str, int] = MappingProxyType({"free": 5, "starter": 20, "growth": 50})
"""Requests in flight allowed per AIsa key, by plan."""


def concurrency_limit(tier: str) -> int:
    """The per-key concurrency limit of an AIsa plan (``free``, ``starter``, ``growth``).

    >>> concurrency_limit("growth")
    50
    """
    try:
        return AISA_TIERS[tier.lower()]
    except KeyError:
        plans = ", ".join(AISA_TIERS)
        raise ValueError(
            f"unknown AIsa tier {tier!r}; use one of {plans}, or give the limit as a number"
        ) from None


def split_limit(limit: int, workers: int) -> int:
    """Requests each of ``workers`` may run at once so that together they stay within ``limit``.

    >>> split_limit(concurrency_limit("free"), workers=2)  # 2 × 2 ≤ 5
    2
    """
    if limit < 1 or workers < 1:
        raise ValueError(f"limit and workers must be at least 1 (got {limit} and {workers})")
    if workers > limit:
        raise ValueError(
            f"{workers} workers cannot share a limit of {limit} requests in flight: "
            f"use at most {limit} workers, or a key with a higher limit"
        )
    return limit // workers
