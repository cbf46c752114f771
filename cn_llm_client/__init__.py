"""cn-llm core: one OpenAI-compatible client for Chinese LLMs (filled in by the core issue)."""
