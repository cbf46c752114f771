"""The docstring examples of the core run, against the offline gateway (issue 7).

Examples read like user code: ``CNLLMClient()`` finds the emulator through AISA_BASE_URL and
AISA_API_KEY, set here for each module's run only. The modules are listed explicitly (no
``--doctest-modules``), so no adapter and no optional extra is imported. Besides docstrings, a
module-level constant's docstring (the string right after its assignment, e.g. MODEL_MAP's) runs
too: doctest itself cannot see those.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
from types import ModuleType
from typing import Any

import pytest

import cn_llm_client
from cn_llm_client import errors
from cn_llm_client.testing import FakeGateway

MODULES = [
    "cn_llm_client.client",
    "cn_llm_client._client_base",
    "cn_llm_client.budget",
    "cn_llm_client.catalog",
    "cn_llm_client.providers",
    "cn_llm_client.errors",
    "cn_llm_client._payload",
    "cn_llm_client._config",
    "cn_llm_client.client_cache",
    "cn_llm_client.connected",
    "cn_llm_client._embeddings",
    "cn_llm_client.testing._embeddings",
    "cn_llm_client._files",
    "cn_llm_client.batch",
    "cn_llm_client.testing",
    "cn_llm_client.testing.gateway",
    "cn_llm_client.testing._faults",
    "cn_llm_client.types",
    "cn_llm_client.concurrency",
    "cn_llm_client._stream",
]

ERRORS = [name for name in errors.__all__ if isinstance(getattr(errors, name), type)]
# Every public name shows an example; the error classes only CNLLMError (the rest: one line each).
WITH_EXAMPLE = [
    name
    for name in cn_llm_client.__all__
    if name not in ("__version__", "MODEL_MAP", "AISA_TIERS")
    and (name not in ERRORS or name == "CNLLMError")
]
CLIENT_METHODS = ["chat", "stream", "chat_stream", "compare_models", "route", "embed", "rerank"]


def _constant_docstrings(module: ModuleType) -> dict[str, str]:
    """Module-level ``NAME = ...`` followed by a string literal: {NAME: that string}."""
    tree = ast.parse(inspect.getsource(module))
    found = {}
    for node, after in zip(tree.body, tree.body[1:], strict=False):
        target: ast.expr
        if isinstance(node, ast.AnnAssign):
            target = node.target
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        else:
            continue
        literal = after.value if isinstance(after, ast.Expr) else None
        text = literal.value if isinstance(literal, ast.Constant) else None
        if isinstance(target, ast.Name) and isinstance(text, str):
            found[target.id] = text
    return found


def _doctests(module: ModuleType) -> list[doctest.DocTest]:
    tests = doctest.DocTestFinder().find(module)
    parser = doctest.DocTestParser()
    for name, text in _constant_docstrings(module).items():
        globs = dict(vars(module))
        qualified = f"{module.__name__}.{name}"
        tests.append(parser.get_doctest(text, globs, qualified, module.__file__, 0))
    return [test for test in tests if test.examples]


@pytest.fixture
def gateway_env(fake_gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    monkeypatch.setenv("AISA_BASE_URL", fake_gateway.base_url)
    monkeypatch.setenv("AISA_API_KEY", str(fake_gateway.api_key))
    return fake_gateway


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str, gateway_env: FakeGateway) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    for test in _doctests(module):
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{name} has no examples"
    assert results.failed == 0, "".join(report)


def _own_doc(obj: Any) -> str:
    doc = vars(obj).get("__doc__") if isinstance(obj, type) else obj.__doc__
    return doc or ""


@pytest.mark.parametrize("name", WITH_EXAMPLE)
def test_public_name_shows_an_example(name: str) -> None:
    assert ">>>" in _own_doc(getattr(cn_llm_client, name)), name


@pytest.mark.parametrize("name", ["FakeGateway", "Fault"])
def test_testing_name_shows_an_example(name: str) -> None:
    import cn_llm_client.testing

    assert ">>>" in _own_doc(getattr(cn_llm_client.testing, name)), name


def test_model_map_shows_an_example() -> None:
    import cn_llm_client._client_base  # defines it; cn_llm_client.client re-exports it

    assert ">>>" in _constant_docstrings(cn_llm_client._client_base)["MODEL_MAP"]


@pytest.mark.parametrize("name", CLIENT_METHODS)
def test_client_methods_show_an_example(name: str) -> None:
    assert ">>>" in _own_doc(getattr(cn_llm_client.CNLLMClient, name)), name
    assert _own_doc(getattr(cn_llm_client.AsyncCNLLMClient, name)), name


def test_every_error_says_when_and_what_to_do() -> None:
    docs = {name: _own_doc(getattr(errors, name)).strip() for name in ERRORS}
    assert all(docs.values()), [name for name, doc in docs.items() if not doc]
    first_lines = [doc.splitlines()[0] for doc in docs.values()]
    assert len(set(first_lines)) == len(first_lines), "two error classes share a docstring"
