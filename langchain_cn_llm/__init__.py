"""ChatCNLLM: a LangChain chat model over the cn-llm core.

```python
from langchain_cn_llm import ChatCNLLM, get_cn_llm_callback

llm = ChatCNLLM(model="qwen3-max")
with get_cn_llm_callback() as cb:
    print(llm.invoke("你好").content)
print(cb.total_cost)
```
"""

from langchain_cn_llm.callbacks import CNLLMCallbackHandler, get_cn_llm_callback
from langchain_cn_llm.chat_models import ChatCNLLM

__all__ = ["ChatCNLLM", "CNLLMCallbackHandler", "get_cn_llm_callback"]
