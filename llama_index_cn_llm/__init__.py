"""CNLLM: a LlamaIndex LLM over the cn-llm core."""
