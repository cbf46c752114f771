"""Long-document summarisation: map-reduce, with the reduce model chosen from the catalog.

Map: each chapter is summarised concurrently (AsyncCNLLMClient, asyncio.gather).
Reduce: the partial summaries go to the cheapest general catalog model whose context window
holds them.

    python examples/long_document.py
"""

import asyncio

from _gateway import DATA, gateway

from cn_llm_client import AsyncCNLLMClient, list_models

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


asyncio.run(main())
