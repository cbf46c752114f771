"""Machine translation: qwen-mt-flash with translation_options.

python examples/translation.py
"""

from _gateway import gateway

from cn_llm_client import CNLLMClient

text = "二十四节气是古人根据太阳在黄道上的位置划分出来的时间刻度。"

with gateway() as settings, CNLLMClient(**settings) as client:
    # qwen-mt models take exactly one user message (no system prompt) and the languages in
    # translation_options, a provider parameter the client passes through untouched.
    response = client.chat(
        "qwen-mt-flash",
        [{"role": "user", "content": text}],
        translation_options={"source_lang": "auto", "target_lang": "English"},
    )
    print("source:", text)
    print("English:", response["choices"][0]["message"]["content"])
