"""PEP 562 lazy exports for the adapter packages, with a clear error when their extra is missing.

    __getattr__, __dir__ = lazy_exports(__name__, {"ChatCNLLM": "chat_models"}, extra="langchain",
                                        framework="langchain_core")

``import langchain_cn_llm`` then costs almost nothing; the first use of a name imports its module,
and without the framework installed says which extra to install instead of a bare
``No module named 'langchain_core'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, module_of: Mapping[str, str], *, extra: str, framework: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` that imports ``package.<module_of[name]>`` on first use, and ``__dir__``."""
    namespace = vars(import_module(package))

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value = getattr(import_module(f"{package}.{module}"), name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] != framework:
                raise
            raise ImportError(
                f"{name} needs {framework}: pip install 'cn-llm[{extra}]'", name=exc.name
            ) from exc
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__
