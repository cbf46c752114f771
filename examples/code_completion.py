"""Completion modes for code: DeepSeek fill-in-the-middle, and a chat that continues a prefix.

python examples/code_completion.py
"""

from _gateway import gateway

from cn_llm_client import CNLLMClient
from langchain_cn_llm import ChatCNLLM
from llama_index_cn_llm import CNLLM

before = "def fibonacci(n):\n    a, b = 0, 1\n"
after = "    return a\n"

with gateway(provider="deepseek") as settings:
    with CNLLMClient(**settings) as client:
        # FIM: the model writes what goes between the two halves (DeepSeek's /beta/completions).
        body = client.fim("deepseek-chat", before, suffix=after, max_tokens=128)
        print("fim:", before + body["choices"][0]["text"] + after, sep="\n")
        print("fim streamed:", "".join(client.fim_stream("deepseek-chat", before, suffix=after)))

    # Prefix completion: the answer starts inside a Python code block and stops at its end.
    llm = ChatCNLLM(model="deepseek-chat", **settings)
    fence = "```python\n"
    reply = llm.invoke("用 Python 写快速排序", assistant_prefix=fence, stop=["```"])
    print("prefix:", fence + str(reply.content))
    llm.close()

    # LlamaIndex: complete() with suffix= is FIM too.
    index_llm = CNLLM(model="deepseek-chat", **settings)
    print("llamaindex fim:", index_llm.complete(before, suffix=after).text)
    index_llm.close()
