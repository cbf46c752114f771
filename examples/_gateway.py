"""Where the examples send their requests: the real AIsa gateway or the offline one.

With ``AISA_API_KEY`` set, the examples talk to the real gateway (``AISA_BASE_URL`` overrides its
address). Without a key they start the project's offline gateway emulator on 127.0.0.1, so every
example runs on a laptop with no account and no network; its answers are emulated.

Usage in an example::

    from _gateway import gateway

    with gateway() as settings:
        client = CNLLMClient(**settings)        # also ChatCNLLM(model=..., **settings), CNLLM(...)

``settings`` is empty for the real gateway, so every client reads its usual environment
variables; for the emulator it holds the emulator's ``api_key`` and ``base_url``. The RAG
examples use ``gateway("dashscope")``: DashScope serves their embedding and rerank models.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cn_llm_client import get_provider

__all__ = ["DATA", "gateway"]

DATA = Path(__file__).parent / "data"
"""The bundled sample documents and image."""


@contextmanager
def gateway(provider: str = "aisa") -> Iterator[dict[str, str | None]]:
    """Yield client keyword arguments, printing which gateway as the first line of output.

    ``gateway("dashscope")`` is for the RAG examples (the AIsa gateway serves no embeddings):
    DASHSCOPE_API_KEY decides real or emulated, and the settings name the provider.
    """
    variable = get_provider(provider).api_key_env or "AISA_API_KEY"
    preset = {} if provider == "aisa" else {"provider": provider}
    if os.environ.get(variable):
        server = "AIsa gateway" if provider == "aisa" else f"{provider} server"
        print(f"Using the real {server} ({variable} is set).", flush=True)
        yield preset
        return
    # Imported here so that runs against the real gateway never load the emulator.
    from cn_llm_client.testing import FakeGateway

    print(
        f"Using the offline gateway: answers are emulated (set {variable} for real ones).",
        flush=True,
    )
    with FakeGateway(mode=provider) as fake:
        yield {**preset, "api_key": fake.api_key, "base_url": fake.base_url}
