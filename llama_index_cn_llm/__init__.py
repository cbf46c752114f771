"""CNLLM: a LlamaIndex LLM over the cn-llm core.

>>> from llama_index_cn_llm import CNLLM
>>> CNLLM.class_name()
'CNLLM'
"""

from llama_index_cn_llm.base import CNLLM, UNKNOWN_MODEL_CONTEXT_WINDOW, UNKNOWN_MODEL_NUM_OUTPUT

__all__ = ["CNLLM", "UNKNOWN_MODEL_CONTEXT_WINDOW", "UNKNOWN_MODEL_NUM_OUTPUT"]
