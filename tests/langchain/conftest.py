"""Shared fixtures for the LangChain adapter tests: emulated gateways on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cn_llm_client.testing import FakeGateway


@pytest.fixture(scope="module")
def deepseek_gateway() -> Iterator[FakeGateway]:
    """An emulator that speaks like api.deepseek.com (prompt cache usage fields included)."""
    with FakeGateway(mode="deepseek") as gateway:
        yield gateway
