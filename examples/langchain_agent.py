"""LangChain: a tool-calling agent on deepseek-r1 (`langchain.agents.create_agent`).

deepseek-r1 thinks before it calls a tool; ChatCNLLM sends that reasoning back (or strips it) as
the model requires, so a multi-round tool loop never hits DeepSeek's HTTP 400. Here the model
calls one tool per turn (`parallel_tool_calls=False`), so the question takes two tool rounds.

    python examples/langchain_agent.py
"""

from _gateway import gateway
from langchain.agents import create_agent
from langchain_core.tools import tool

from langchain_cn_llm import ChatCNLLM


@tool
def get_weather(city: str) -> str:
    """查询城市今天的天气。"""
    return f"{city}：晴，18 到 26 摄氏度。"


@tool
def multiply(a: float, b: float) -> float:
    """两个数相乘。"""
    return a * b


with gateway() as settings:
    llm = ChatCNLLM(model="deepseek-r1", model_kwargs={"parallel_tool_calls": False}, **settings)
    agent = create_agent(llm, [get_weather, multiply])
    question = "get_weather：杭州今天天气怎么样？再用 multiply 算一下 12.5 乘以 8。"
    result = agent.invoke({"messages": [("user", question)]})
    for message in result["messages"]:
        for call in getattr(message, "tool_calls", None) or []:
            print(f"tool call: {call['name']}({call['args']})")
        if message.type == "tool":
            print(f"tool result: {message.content}")
    print("answer:", result["messages"][-1].content)
