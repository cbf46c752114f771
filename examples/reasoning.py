"""Reasoning with visible thinking: deepseek-r1 streams its reasoning apart from its answer.

python examples/reasoning.py            # the thinking dimmed on a terminal
python examples/reasoning.py | less     # plain text when piped: rich writes no ANSI codes
"""

from _gateway import gateway
from rich.console import Console

from cn_llm_client import CNLLMClient

question = "9.9 和 9.11 哪个更大？请详细推理。"
# rich styles only a terminal (and honours NO_COLOR / TERM=dumb); piped output stays plain text.
console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)

with gateway() as settings, CNLLMClient(**settings) as client:
    print("question:", question)
    # client.stream yields the raw chunk dicts: reasoning arrives in delta["reasoning_content"],
    # the answer in delta["content"]. The thinking is printed dimmed, the answer plainly.
    console.print("thinking: ", style="dim", end="")
    with client.stream("deepseek-r1", [{"role": "user", "content": question}]) as stream:
        answering = False
        for chunk in stream:
            for choice in chunk["choices"]:
                delta = choice["delta"]
                if delta.get("reasoning_content"):
                    console.print(delta["reasoning_content"], style="dim", end="")
                if delta.get("content"):
                    if not answering:
                        console.print("\nanswer: ", end="")
                        answering = True
                    console.print(delta["content"], end="")
        console.print()
        # The fold of the whole stream, the same shape as a non-stream response.
        message = stream.completion()["choices"][0]["message"]
    print(
        f"{len(message['reasoning_content'])} characters of thinking, {len(message['content'])} of answer"
    )
