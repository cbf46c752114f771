"""cn_llm_client's concurrency helpers, as the public API they are (docs/scale-out.md)."""

from __future__ import annotations

import pytest

import cn_llm_client
from cn_llm_client import AISA_TIERS, concurrency_limit, split_limit


def test_exported_from_the_package() -> None:
    for name in ("AISA_TIERS", "concurrency_limit", "split_limit"):
        assert name in cn_llm_client.__all__


def test_tiers_are_the_documented_plans_and_read_only() -> None:
    assert dict(AISA_TIERS) == {"free": 5, "starter": 20, "growth": 50}
    assert concurrency_limit("Growth") == 50
    with pytest.raises(TypeError):
        AISA_TIERS["free"] = 500  # type: ignore[index]
    with pytest.raises(ValueError, match="free, starter, growth"):
        concurrency_limit("enterprise")


@pytest.mark.parametrize(("limit", "workers"), [(20, 3), (5, 5), (50, 7), (1, 1), (20, 1)])
def test_a_split_never_passes_the_limit(limit: int, workers: int) -> None:
    share = split_limit(limit, workers)
    assert share >= 1 and workers * share <= limit < workers * (share + 1)


@pytest.mark.parametrize(("limit", "workers"), [(5, 6), (0, 1), (5, 0)])
def test_impossible_splits_are_refused(limit: int, workers: int) -> None:
    with pytest.raises(ValueError):
        split_limit(limit, workers)
