"""Fixtures of the reliability suite, and the hook that records its results for the report.

`gw` is one offline gateway per test module, reset before each test; the number of requests it
saw during the test is recorded as the test's `emulator_requests` property (shown in JUnit XML).
Set `CN_LLM_RELIABILITY_JSON=<path>` to also write every result (scenario docstring, outcome,
requests) as JSON for `scripts/reliability_report.py`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cn_llm_client.testing import FakeGateway

sys.path.insert(0, str(Path(__file__).parent))  # `from _surfaces import ...` in the test modules
from _surfaces import count_requests  # noqa: E402

_RESULTS: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def gw_module() -> Iterator[FakeGateway]:
    with FakeGateway() as gateway:
        yield gateway


@pytest.fixture
def gw(gw_module: FakeGateway, request: pytest.FixtureRequest) -> Iterator[FakeGateway]:
    """The module's gateway, reset; its request count is recorded after the test."""
    gw_module.reset()
    yield gw_module
    count_requests(request, gw_module)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        function = getattr(item, "function", None)
        doc = (getattr(function, "__doc__", None) or "").strip().split("\n\n")[:1]
        _RESULTS.append(
            {
                "nodeid": item.nodeid,
                "module": Path(str(item.fspath)).stem,
                "test": getattr(function, "__name__", item.name),
                "scenario": " ".join(doc[0].split()) if doc and doc[0] else item.name,
                "outcome": report.outcome,
                "duration": report.duration,
                "load": item.get_closest_marker("load") is not None,
                "properties": {},
            }
        )
    if report.when == "teardown" and _RESULTS and _RESULTS[-1]["nodeid"] == item.nodeid:
        _RESULTS[-1]["properties"] = dict(item.user_properties)
        if report.outcome == "failed":
            _RESULTS[-1]["outcome"] = "failed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("CN_LLM_RELIABILITY_JSON")
    if path and _RESULTS:
        Path(path).write_text(json.dumps(_RESULTS, indent=1, ensure_ascii=False))
