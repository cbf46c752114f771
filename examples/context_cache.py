"""Context caching: what a repeated prompt prefix saves, on DeepSeek (automatic) and DashScope
(explicit cache_control markers).

python examples/context_cache.py
"""

from _gateway import DATA, gateway
from langchain_core.messages import HumanMessage, SystemMessage

from cn_llm_client import CNLLMClient
from langchain_cn_llm import ChatCNLLM

# A long, stable prefix (the same system prompt every time) is what providers cache.
guide = (DATA / "solar_terms.txt").read_text(encoding="utf-8") * 3
questions = ["立春是几月？", "冬至吃什么？"]

with gateway(provider="deepseek") as settings, CNLLMClient(**settings) as client:
    for question in questions:
        messages = [
            {"role": "system", "content": guide},
            {"role": "user", "content": question},
        ]
        usage = client.chat("deepseek-chat", messages)["usage"]
        print(
            f"deepseek: {usage['prompt_tokens']} prompt tokens, "
            f"{usage['cache_read_tokens']} read from the cache, cost ${usage['cost']:.6f}"
        )

# DashScope caches explicitly: mark the end of the stable part (at least 1,024 tokens).
with gateway(provider="dashscope") as settings:
    llm = ChatCNLLM(model="qwen-plus", **settings)
    marked = {"type": "text", "text": guide, "cache_control": {"type": "ephemeral"}}
    for question in questions:
        reply = llm.invoke([SystemMessage([marked]), HumanMessage(question)])
        details = reply.usage_metadata["input_token_details"] if reply.usage_metadata else {}
        print(
            f"dashscope: cache_creation={details.get('cache_creation', 0)}, "
            f"cache_read={details.get('cache_read', 0)}"
        )
    llm.close()
