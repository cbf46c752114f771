"""CNLLM: a LlamaIndex LLM over the cn-llm core.

>>> from llama_index_cn_llm import CNLLM
>>> CNLLM.class_name()
'CNLLM'

The names load on first use (PEP 562 ``__getattr__``): ``import llama_index_cn_llm`` costs almost
nothing, ``CNLLM`` costs what LlamaIndex's ``CustomLLM`` does.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_index_cn_llm.base import (
        CNLLM,
        UNKNOWN_MODEL_CONTEXT_WINDOW,
        UNKNOWN_MODEL_NUM_OUTPUT,
    )

__all__ = ["CNLLM", "UNKNOWN_MODEL_CONTEXT_WINDOW", "UNKNOWN_MODEL_NUM_OUTPUT"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.base"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
