"""Task routing: the seed's MODEL_MAP picks a model per task; override entries per client.

python examples/task_routing.py
"""

from _gateway import gateway

from cn_llm_client import MODEL_MAP, CNLLMClient

tasks = {
    "chat": "你好，请介绍一下你自己。",
    "code": "Write a function that reverses a linked list.",
    "reasoning": "一个农夫带着狼、羊和白菜过河，怎样才能都安全过去？",
    "translate": "落霞与孤鹜齐飞，秋水共长天一色。",
}

with gateway() as settings:
    print("default routes:", dict(MODEL_MAP))  # {"chat": "qwen3-max", "code": ...}
    # model_map= overrides single entries; the rest of MODEL_MAP stays.
    with CNLLMClient(**settings, model_map={"code": "qwen3-coder-flash"}) as client:
        for task, message in tasks.items():
            response = client.route(task, message)
            answer = response["choices"][0]["message"]["content"].replace("\n", " ")[:50]
            print(f"{task:<10} -> {response['model']:<18} {answer}")
