"""LlamaIndex: a FunctionAgent with tools, on a reasoning model.

python examples/llamaindex_agent.py
"""

import asyncio

from _gateway import gateway
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult

from llama_index_cn_llm import CNLLM


def get_weather(city: str) -> str:
    """查询城市今天的天气。"""
    return f"{city}：晴，18 到 26 摄氏度。"


def multiply(a: float, b: float) -> float:
    """两个数相乘。"""
    return a * b


async def main() -> None:
    with gateway() as settings:
        llm = CNLLM(model="deepseek-r1", **settings)
        # Plain functions become tools: the name, docstring and type hints form the schema.
        agent = FunctionAgent(
            tools=[get_weather, multiply],
            llm=llm,
            system_prompt="你是一个乐于助人的助手，需要时调用工具。",
        )
        handler = agent.run("杭州今天天气怎么样？再算一下 12.5 乘以 8。")
        async for event in handler.stream_events():
            if isinstance(event, ToolCallResult):
                print(f"tool call: {event.tool_name}({event.tool_kwargs}) -> {event.tool_output}")
        response = await handler
        print("answer:", response)
        await llm.aclose()  # close this event loop's pooled connections


asyncio.run(main())
