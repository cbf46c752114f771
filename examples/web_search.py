"""Answers grounded in a web search: Kimi's $web_search and Qwen's enable_search, one option.

Kimi: the model calls its builtin `$web_search`; the client sends the arguments back and asks
again, so this is one call, and the usage shows what the search cost. Qwen (DashScope): the
search options go out as `search_options`. Both through LangChain and LlamaIndex too.

    python examples/web_search.py        # MOONSHOT_API_KEY / DASHSCOPE_API_KEY for real answers
"""

from _gateway import gateway
from llama_index.core.llms import ChatMessage

from cn_llm_client import CNLLMClient
from langchain_cn_llm import ChatCNLLM
from llama_index_cn_llm import CNLLM

QUESTION = "今天有哪些人工智能方面的新闻？"

with gateway("moonshot") as settings:
    with CNLLMClient(**settings) as kimi:
        reply = kimi.chat("kimi-k2.5", [{"role": "user", "content": QUESTION}], web_search=True)
    usage = reply["usage"]
    print("kimi:", reply["choices"][0]["message"]["content"])
    print(f"kimi searches: {usage['searches']}, search tokens: {usage['search_tokens']}")
    print(
        f"kimi tokens over both rounds: {usage['prompt_tokens']} in, {usage['completion_tokens']} out"
    )

    llm = CNLLM(model="kimi-k2.5", web_search=True, **settings)
    print(
        "kimi (LlamaIndex):", llm.chat([ChatMessage(role="user", content=QUESTION)]).message.content
    )

with gateway("dashscope") as settings:
    qwen = ChatCNLLM(
        model="qwen-plus", web_search={"search_strategy": "max", "freshness": 7}, **settings
    )
    pieces = [chunk.text for chunk in qwen.stream(QUESTION)]
    print("qwen (LangChain, streamed):", "".join(pieces))
