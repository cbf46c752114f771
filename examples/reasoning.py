"""Reasoning with visible thinking: deepseek-r1 streams its reasoning apart from its answer.

python examples/reasoning.py
"""

from _gateway import gateway

from cn_llm_client import CNLLMClient

DIM, RESET = "\033[2m", "\033[0m"

question = "9.9 和 9.11 哪个更大？请详细推理。"

with gateway() as settings, CNLLMClient(**settings) as client:
    print("question:", question)
    # client.stream yields the raw chunk dicts: reasoning arrives in delta["reasoning_content"],
    # the answer in delta["content"]. The thinking is printed dimmed, the answer plainly.
    print(DIM + "thinking: ", end="")
    with client.stream("deepseek-r1", [{"role": "user", "content": question}]) as stream:
        answering = False
        for chunk in stream:
            for choice in chunk["choices"]:
                delta = choice["delta"]
                if delta.get("reasoning_content"):
                    print(delta["reasoning_content"], end="", flush=True)
                if delta.get("content"):
                    if not answering:
                        print(RESET + "\nanswer: ", end="")
                        answering = True
                    print(delta["content"], end="", flush=True)
        print(RESET)
        # The fold of the whole stream, the same shape as a non-stream response.
        message = stream.completion()["choices"][0]["message"]
    print(
        f"{len(message['reasoning_content'])} characters of thinking, {len(message['content'])} of answer"
    )
