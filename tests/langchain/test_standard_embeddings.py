"""langchain-tests' standard EmbeddingsUnitTests and EmbeddingsIntegrationTests for CNLLMEmbeddings.

The integration suite runs against the offline gateway in DashScope mode (text-embedding-v4).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import CNLLMEmbeddings


class TestCNLLMEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[CNLLMEmbeddings]:
        return CNLLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "text-embedding-v4", "provider": "dashscope", "api_key": "sk-unit-key"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"DASHSCOPE_API_KEY": "sk-from-env"},
            {"model": "text-embedding-v3", "provider": "dashscope"},
            {"api_key": "sk-from-env", "model": "text-embedding-v3"},
        )


class TestCNLLMEmbeddingsOnDashScope(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _gateway(self, dashscope_gateway: FakeGateway) -> None:
        self.gateway = dashscope_gateway

    @property
    def embeddings_class(self) -> type[CNLLMEmbeddings]:
        return CNLLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {
            "model": "text-embedding-v4",
            "provider": "dashscope",
            "dimensions": 64,
            "base_url": self.gateway.base_url,
            "api_key": self.gateway.api_key,
        }
