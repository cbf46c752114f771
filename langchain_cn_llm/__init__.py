"""ChatCNLLM, CNLLMEmbeddings and CNLLMRerank: LangChain components over the cn-llm core.

```python
from langchain_cn_llm import ChatCNLLM, CNLLMEmbeddings, CNLLMRerank, get_cn_llm_callback

llm = ChatCNLLM(model="qwen3-max")
with get_cn_llm_callback() as cb:
    print(llm.invoke("你好").content)
print(cb.total_cost)

embeddings = CNLLMEmbeddings(model="text-embedding-v4", provider="dashscope")
rerank = CNLLMRerank(model="qwen3-rerank", provider="dashscope", top_n=3)
```

The names load on first use (PEP 562 ``__getattr__``, as ``langchain_core.language_models``
does): ``import langchain_cn_llm`` costs almost nothing, ``ChatCNLLM`` costs what LangChain's
``BaseChatModel`` does, and the callback's tracing imports load only with the callback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cn_llm_client._lazy import lazy_exports

if TYPE_CHECKING:
    from langchain_cn_llm.callbacks import CNLLMCallbackHandler, get_cn_llm_callback
    from langchain_cn_llm.chat_models import ChatCNLLM
    from langchain_cn_llm.embeddings import CNLLMEmbeddings
    from langchain_cn_llm.rerank import CNLLMRerank

__all__ = [
    "ChatCNLLM",
    "CNLLMCallbackHandler",
    "CNLLMEmbeddings",
    "CNLLMRerank",
    "get_cn_llm_callback",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ChatCNLLM": "chat_models",
        "CNLLMCallbackHandler": "callbacks",
        "CNLLMEmbeddings": "embeddings",
        "CNLLMRerank": "rerank",
        "get_cn_llm_callback": "callbacks",
    },
    extra="langchain",
    framework="langchain_core",
)
