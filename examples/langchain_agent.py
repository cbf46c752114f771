"""LangChain: a tool-calling agent on deepseek-r1 (LangGraph's prebuilt ReAct agent).

deepseek-r1 thinks before it calls a tool; ChatCNLLM sends that reasoning back (or strips it) as
the model requires, so a multi-round tool loop never hits DeepSeek's HTTP 400.
(`create_react_agent` moved to `langchain.agents.create_agent` in LangChain 1.0; both take the
same model and tools.)

    python examples/langchain_agent.py
"""

import warnings

from _gateway import gateway
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent

from langchain_cn_llm import ChatCNLLM

warnings.filterwarnings("ignore", message=".*create_react_agent has been moved.*")


@tool
def get_weather(city: str) -> str:
    """查询城市今天的天气。"""
    return f"{city}：晴，18 到 26 摄氏度。"


@tool
def multiply(a: float, b: float) -> float:
    """两个数相乘。"""
    return a * b


with gateway() as settings:
    llm = ChatCNLLM(model="deepseek-r1", **settings)
    agent = create_react_agent(llm, [get_weather, multiply])
    result = agent.invoke({"messages": [("user", "杭州今天天气怎么样？再算一下 12.5 乘以 8。")]})
    for message in result["messages"]:
        for call in getattr(message, "tool_calls", None) or []:
            print(f"tool call: {call['name']}({call['args']})")
        if message.type == "tool":
            print(f"tool result: {message.content}")
    print("answer:", result["messages"][-1].content)
