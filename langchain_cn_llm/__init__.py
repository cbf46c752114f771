"""ChatCNLLM: a LangChain chat model over the cn-llm core."""
