"""Chinese content generation: qwen3-max with a system prompt.

python examples/chinese_content.py
"""

from _gateway import gateway

from cn_llm_client import CNLLMClient

with gateway() as settings, CNLLMClient(**settings) as client:
    response = client.chat(
        model="qwen3-max",
        messages=[
            # The system prompt sets the voice; Qwen writes natural, idiomatic Chinese.
            {"role": "system", "content": "你是一位专业的中文文案策划，文风简洁、生动。"},
            {"role": "user", "content": "为一款智能手表写一段 100 字以内的产品介绍。"},
        ],
        temperature=0.7,
        max_tokens=300,
    )
    print("文案:", response["choices"][0]["message"]["content"])
    # usage["cost"] is the gateway's figure, or computed from the catalog's prices.
    print(f"tokens: {response['usage']['total_tokens']}, cost: ${response['usage']['cost']:.6f}")
