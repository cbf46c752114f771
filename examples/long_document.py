"""Long-document summarisation, two ways: map-reduce, and whole files read by qwen-long.

Map: each chapter is summarised concurrently (AsyncCNLLMClient, asyncio.gather).
Reduce: the partial summaries go to the cheapest general catalog model whose context window
holds them.
By file: qwen-long (DashScope) reads the uploaded chapters themselves: `documents=` uploads each
file once per client and references it as `fileid://...` after the system prompt (Kimi gets the
files' extracted text instead). LangChain: the same `documents=` per call, or a file block.

    python examples/long_document.py
"""

import asyncio

from _gateway import DATA, gateway

from cn_llm_client import AsyncCNLLMClient, CNLLMClient, list_models
from langchain_cn_llm import ChatCNLLM

MAP_MODEL = "qwen3-max"
GENERAL_FAMILIES = {"qwen", "deepseek", "kimi", "glm", "minimax"}  # not coder, vision or mt


def pick_long_context_model(needed_tokens: int) -> str:
    """The cheapest general chat model whose context window holds `needed_tokens`."""
    fits = [
        m
        for m in list_models("aisa")
        if m.family in GENERAL_FAMILIES
        and m.input_price is not None
        and (m.context_window or 0) >= needed_tokens
    ]
    return min(fits, key=lambda m: (m.input_price, -m.context_window)).id


async def summarise(client: AsyncCNLLMClient, model: str, text: str, instruction: str) -> str:
    messages = [{"role": "system", "content": instruction}, {"role": "user", "content": text}]
    response = await client.chat(model, messages, max_tokens=400)
    return response["choices"][0]["message"]["content"]


async def main() -> None:
    with gateway() as settings:
        chapters = [p.read_text(encoding="utf-8") for p in sorted(DATA.glob("*.txt"))]
        async with AsyncCNLLMClient(**settings) as client:
            partials = await asyncio.gather(
                *(summarise(client, MAP_MODEL, c, "用两句话概括这一章。") for c in chapters)
            )
            joined = "\n".join(partials)
            # Roughly one token per Chinese character; leave room for the answer.
            reduce_model = pick_long_context_model(len(joined) + 1000)
            summary = await summarise(client, reduce_model, joined, "把这些摘要合并成一段总结。")
        print(f"map: {len(chapters)} chapters summarised by {MAP_MODEL}")
        print(f"reduce model (from the catalog, by context window): {reduce_model}")
        print("summary:", summary)


def by_file() -> None:
    chapters = sorted(DATA.glob("*.txt"))
    system = {"role": "system", "content": "你是文档助理，只根据文件回答。"}
    with gateway("dashscope") as settings, CNLLMClient(**settings) as client:
        ask = [system, {"role": "user", "content": "用一段话概括这些文件。"}]
        reply = client.chat("qwen-long", ask, documents=chapters)
        print("qwen-long, by file:", reply["choices"][0]["message"]["content"])
        again = [system, {"role": "user", "content": "列出文件里的三个要点。"}]
        client.chat("qwen-long", again, documents=chapters)  # the same files: no new upload
        print(
            f"files uploaded: {len(client.list_files())} for {len(chapters)} chapters, two questions"
        )
        llm = ChatCNLLM(model="qwen-long", **settings)
        print("LangChain:", llm.invoke("这些文件讲了什么？", documents=chapters[:1]).text)


asyncio.run(main())
by_file()
