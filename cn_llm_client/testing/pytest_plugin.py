"""pytest fixtures for the offline gateway (registered through the `pytest11` entry point).

    def test_hello(fake_gateway):
        client = CNLLMClient(api_key=fake_gateway.api_key, base_url=fake_gateway.base_url)

`fake_gateway` is a fresh gateway per test; `fake_gateway_session` is one gateway for the whole
run (call `.reset()` yourself when a test needs a clean record or fault queue).
The emulator is imported only when a fixture is used, so loading this plugin costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cn_llm_client.testing import FakeGateway

__all__ = ["fake_gateway", "fake_gateway_session"]


def _gateway() -> FakeGateway:
    from cn_llm_client.testing import FakeGateway

    return FakeGateway()


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    """A fresh emulator (mode aisa, key "test-key", no latency), stopped after the test."""
    with _gateway() as gateway:
        yield gateway


@pytest.fixture(scope="session")
def fake_gateway_session() -> Iterator[FakeGateway]:
    """One emulator shared by the whole session."""
    with _gateway() as gateway:
        yield gateway
