"""Model comparison: the same question to several models at once (also: `cn-llm compare`).

python examples/compare_models.py
"""

from _gateway import gateway

from cn_llm_client import CNLLMClient

models = ["qwen3-max", "deepseek-v3", "deepseek-r1"]

with gateway() as settings, CNLLMClient(**settings) as client:
    # Runs the models concurrently; a model that fails records its error, the others still answer.
    results = client.compare_models(models, "用一句话解释什么是机器学习。", max_tokens=200)
    print(f"{'model':<14} {'latency':>8} {'tokens':>7} {'cost $':>10}  answer")
    for model, result in results.items():
        if result["error"]:
            print(f"{model:<14} error: {result['error']}")
            continue
        tokens = result["usage"]["total_tokens"]
        answer = result["response"].replace("\n", " ")[:40]
        print(
            f"{model:<14} {result['latency_s']:>7.2f}s {tokens:>7} {result['cost']:>10.6f}  {answer}"
        )
