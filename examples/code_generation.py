"""Code generation: qwen3-coder-plus, streamed piece by piece.

python examples/code_generation.py
"""

from _gateway import gateway

from cn_llm_client import CNLLMClient

with gateway() as settings, CNLLMClient(**settings) as client:
    messages = [
        {"role": "system", "content": "You are a professional programmer. Answer with code."},
        {"role": "user", "content": "Implement binary search in Python, with a docstring."},
    ]
    print("qwen3-coder-plus:")
    # chat_stream yields text pieces as they arrive: the answer appears while it is written.
    for piece in client.chat_stream("qwen3-coder-plus", messages, temperature=0.2):
        print(piece, end="", flush=True)
    print()
