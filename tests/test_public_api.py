"""The adapters translate through the core's public API only (docs/design.md, "Adapters")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cn_llm_client

ROOT = Path(__file__).resolve().parents[1]
ADAPTER_MODULES = sorted(
    path
    for package in ("langchain_cn_llm", "llama_index_cn_llm")
    for path in (ROOT / package).glob("*.py")
)
# The packages' PEP 562 import plumbing, shared by both __init__ files; no request goes through it.
PLUMBING = {"cn_llm_client._lazy"}


def _core_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every name a module imports from cn_llm_client."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cn_llm_client"):
            found += [(node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("cn_llm_client")]
    return found


@pytest.mark.parametrize("path", ADAPTER_MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_adapters_import_no_private_core_module(path: Path) -> None:
    private = [
        f"{module}.{name}"
        for module, name in _core_imports(path)
        if module not in PLUMBING and any(part.startswith("_") for part in module.split("."))
    ]
    assert private == [], f"{path.name} imports private core names: {private}"


@pytest.mark.parametrize("path", ADAPTER_MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_adapters_compute_no_cost(path: Path) -> None:
    """Cost is computed once, in the core: adapters read usage["cost"]."""
    assert "cost_of" not in {name for _, name in _core_imports(path)}
    assert "cost_of(" not in path.read_text(encoding="utf-8")


def test_what_the_adapters_use_is_exported() -> None:
    for name in (
        "ToolCallSlots",
        "parse_tool_arguments",
        "image_part",
        "forced_tool_choice_allowed",
        "resolve_settings",
        "check_params",
    ):
        assert name in cn_llm_client.__all__ and getattr(cn_llm_client, name) is not None
