"""The adapters' packages load their names on first use (PEP 562), so importing them is cheap."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PACKAGES = {
    "langchain_cn_llm": (
        "langchain_core",
        [
            "ChatCNLLM",
            "CNLLMCallbackHandler",
            "CNLLMEmbeddings",
            "CNLLMRerank",
            "get_cn_llm_callback",
        ],
    ),
    "llama_index_cn_llm": (
        "llama_index",
        [
            "CNLLM",
            "CNLLMEmbedding",
            "CNLLMRerank",
            "UNKNOWN_MODEL_CONTEXT_WINDOW",
            "UNKNOWN_MODEL_NUM_OUTPUT",
        ],
    ),
}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_import_loads_no_framework_until_a_name_is_used(package: str) -> None:
    framework, names = PACKAGES[package]
    probe = f"""
import json, sys
import {package}
before = any(m == {framework!r} or m.startswith({framework!r} + ".") for m in sys.modules)
from {package} import *
print(json.dumps({{"before": before, "star": sorted(n for n in {names!r} if n in globals()),
                  "after": {framework!r} in sys.modules, "dir": dir({package})}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert not seen["before"], f"import {package} loaded {framework} already"
    assert seen["star"] == sorted(names) and seen["after"]
    assert set(names) <= set(seen["dir"])


def test_names_resolve_to_their_modules_and_unknown_names_fail() -> None:
    import langchain_cn_llm
    import llama_index_cn_llm
    from langchain_cn_llm.callbacks import get_cn_llm_callback
    from langchain_cn_llm.chat_models import ChatCNLLM
    from llama_index_cn_llm.base import CNLLM

    assert langchain_cn_llm.ChatCNLLM is ChatCNLLM
    assert langchain_cn_llm.get_cn_llm_callback is get_cn_llm_callback
    assert llama_index_cn_llm.CNLLM is CNLLM
    from langchain_cn_llm.rerank import CNLLMRerank
    from llama_index_cn_llm.embeddings import CNLLMEmbedding

    assert langchain_cn_llm.CNLLMRerank is CNLLMRerank
    assert llama_index_cn_llm.CNLLMEmbedding is CNLLMEmbedding
    with pytest.raises(AttributeError, match="no attribute 'ChatOpenAI'"):
        langchain_cn_llm.ChatOpenAI  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        llama_index_cn_llm.nope  # noqa: B018


@pytest.mark.parametrize(
    ("package", "extra"), [("langchain_cn_llm", "langchain"), ("llama_index_cn_llm", "llama-index")]
)
def test_a_missing_extra_says_what_to_install(package: str, extra: str) -> None:
    framework, names = PACKAGES[package]
    probe = f"""
import sys
sys.modules[{framework!r}] = None  # as if the extra were not installed
import {package}
try:
    getattr({package}, {names[0]!r})
except ImportError as exc:
    print(exc)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"pip install 'cn-llm[{extra}]'" in done.stdout
