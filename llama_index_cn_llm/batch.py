"""LlamaIndex chats through the provider's Batch API at half price: ``batch_chat`` / ``abatch_chat``.

```python
from llama_index.core.prompts import ChatPromptTemplate
from llama_index_cn_llm import CNLLM
from llama_index_cn_llm.batch import batch_chat

llm = CNLLM(model="qwen-plus", provider="dashscope")
responses = batch_chat(llm, ["总结：……", "翻译：……"], state_file="jobs.batch.json")

prompt = ChatPromptTemplate.from_messages([("system", "只回答类别。"), ("user", "{title}")])
labels = batch_chat(llm, [{"title": t} for t in titles], prompt=prompt)
```

Each input is a prompt string, a list of ``ChatMessage``, or a row (a dict) for ``prompt``;
requests are built as ``llm.chat`` builds them (temperature, max_tokens, additional_kwargs) and
validated before anything is uploaded. The answers come back in input order: a ``ChatResponse``
per answered row (``additional_kwargs["cost"]`` at batch price), the row's ``CNLLMError`` in its
place otherwise. Options are ``cn_llm_client.batch.run_batch``'s (``state_file`` to resume...).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole

from cn_llm_client.batch import BatchResults, arun_batch, run_batch
from cn_llm_client.errors import CNLLMError

if TYPE_CHECKING:
    from llama_index.core.prompts import BasePromptTemplate

    from llama_index_cn_llm.base import CNLLM

__all__ = ["abatch_chat", "batch_chat"]

Input = str | Sequence[ChatMessage] | dict[str, Any]


def batch_chat(
    llm: CNLLM,
    inputs: Iterable[Input],
    *,
    prompt: BasePromptTemplate | None = None,
    **options: Any,
) -> list[ChatResponse | CNLLMError]:
    """Run every input through the Batch API; ChatResponses (or the row's error) in input order."""
    params, requests = _requests(llm, inputs, prompt)
    return _responses(llm, params, run_batch(llm._sync_client(), requests, **options))


async def abatch_chat(
    llm: CNLLM,
    inputs: Iterable[Input],
    *,
    prompt: BasePromptTemplate | None = None,
    **options: Any,
) -> list[ChatResponse | CNLLMError]:
    """``batch_chat`` on the async client."""
    params, requests = _requests(llm, inputs, prompt)
    return _responses(llm, params, await arun_batch(llm._async_client(), requests, **options))


def _messages(item: Any, prompt: BasePromptTemplate | None) -> Sequence[ChatMessage]:
    if prompt is not None:
        return prompt.format_messages(**item)
    if isinstance(item, str):
        return [ChatMessage(role=MessageRole.USER, content=item)]
    return list(item)


def _requests(
    llm: CNLLM, inputs: Iterable[Any], prompt: BasePromptTemplate | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from llama_index_cn_llm.base import _to_openai_messages

    params = llm._params({})
    requests = [
        {
            "custom_id": str(index),
            "model": llm.model,
            "messages": _to_openai_messages(_messages(item, prompt)),
            **params,
        }
        for index, item in enumerate(inputs)
    ]
    return params, requests


def _responses(
    llm: CNLLM, params: dict[str, Any], results: BatchResults
) -> list[ChatResponse | CNLLMError]:
    responses: list[ChatResponse | CNLLMError] = []
    for row in results:
        if row.error is not None or row.response is None:
            responses.append(row.error or CNLLMError(f"Batch request {row.custom_id}: no answer"))
            continue
        response = llm._chat_response(row.response, params)
        response.additional_kwargs.update(cost=row.cost, batch=True)
        responses.append(response)
    return responses
