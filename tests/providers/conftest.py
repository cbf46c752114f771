"""Fixtures of the provider contract suite (tables in provider_surfaces.py).

Every test that takes `case` runs once per provider preset, against the emulator in that
provider's mode; every test that takes `surface` runs once per public way in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from provider_surfaces import CASES, SURFACES, Case, Surface

from cn_llm_client.testing import FakeGateway

# ------------------------------------------------------------------------------ the emulators


@pytest.fixture(scope="session")
def _gateways() -> Iterator[dict[str, FakeGateway]]:
    started: dict[str, FakeGateway] = {}
    yield started
    for gateway in started.values():
        gateway.stop()


@pytest.fixture
def gateway(case: Case, _gateways: dict[str, FakeGateway]) -> FakeGateway:
    """The session's emulator in `case.mode`, with a clean record."""
    gw = _gateways.get(case.mode)
    if gw is None:
        gw = _gateways[case.mode] = FakeGateway(mode=case.mode).start()
    gw.reset()
    return gw


@pytest.fixture
def connection(case: Case, gateway: FakeGateway) -> dict[str, Any]:
    """The constructor arguments every surface takes: preset, emulator URL, key if it has one."""
    return {
        "provider": case.provider,
        "base_url": gateway.base_url,
        "api_key": None if case.local else gateway.api_key,
    }


@pytest.fixture
def surface(request: pytest.FixtureRequest, connection: dict[str, Any]) -> Surface:
    cls: type[Surface] = request.param
    return cls(connection)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`case` runs over every preset (unless a test parametrizes it itself); `surface` over all."""
    names = metafunc.fixturenames
    own = {m.args[0] for m in metafunc.definition.iter_markers("parametrize")}
    if "case" in names and "case" not in own:
        metafunc.parametrize("case", CASES, ids=str)
    if "surface" in names:
        metafunc.parametrize("surface", SURFACES, ids=lambda s: s.name, indirect=True)
