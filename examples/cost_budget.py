"""Cost tracking with a budget: CostMeter totals every call and stops at a spending limit.

python examples/cost_budget.py
"""

from _gateway import gateway

from cn_llm_client import BudgetExceededError, CNLLMClient, CostMeter

# A tiny limit so that the example reaches it after a few calls.
meter = CostMeter(limit_usd=0.0005)

with gateway() as settings, CNLLMClient(**settings, meter=meter) as client:
    questions = [f"用一句话介绍中国的第 {n} 个世界遗产。" for n in range(1, 51)]
    try:
        for question in questions:
            response = client.chat("qwen3-max", [{"role": "user", "content": question}])
            print(
                f"call {meter.calls}: ${response['usage']['cost']:.6f}, total ${meter.cost_usd:.6f}"
            )
    except BudgetExceededError as exc:
        # Checked before each request: the call that crosses the limit completes, the next is refused.
        print("stopped:", exc)
    print("totals:", meter.snapshot())
