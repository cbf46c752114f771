"""Where the examples send their requests: the real AIsa gateway or the offline one.

With ``AISA_API_KEY`` set, the examples talk to the real gateway (``AISA_BASE_URL`` overrides its
address). Without a key they start the project's offline gateway emulator on 127.0.0.1, so every
example runs on a laptop with no account and no network; its answers are emulated.

Usage in an example::

    from _gateway import gateway

    with gateway() as settings:
        client = CNLLMClient(**settings)        # also ChatCNLLM(model=..., **settings), CNLLM(...)

``settings`` is empty for the real gateway, so every client reads its usual environment
variables; for the emulator it holds the emulator's ``api_key`` and ``base_url``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["DATA", "gateway"]

DATA = Path(__file__).parent / "data"
"""The bundled sample documents and image."""


@contextmanager
def gateway() -> Iterator[dict[str, str | None]]:
    """Yield client keyword arguments, printing which gateway as the first line of output."""
    if os.environ.get("AISA_API_KEY"):
        print("Using the real AIsa gateway (AISA_API_KEY is set).", flush=True)
        yield {}
        return
    # Imported here so that runs against the real gateway never load the emulator.
    from cn_llm_client.testing import FakeGateway

    print(
        "Using the offline gateway: answers are emulated (set AISA_API_KEY for real ones).",
        flush=True,
    )
    with FakeGateway() as fake:
        yield {"api_key": fake.api_key, "base_url": fake.base_url}
