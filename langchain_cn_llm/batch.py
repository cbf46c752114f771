"""LangChain inputs through the provider's Batch API at half price: ``batch_job`` / ``abatch_job``.

```python
from langchain_core.prompts import ChatPromptTemplate
from langchain_cn_llm import ChatCNLLM
from langchain_cn_llm.batch import batch_job

llm = ChatCNLLM(model="qwen-plus", provider="dashscope", temperature=0.2)
answers = batch_job(llm, ["总结：……", "翻译：……"], state_file="jobs.batch.json")

prompt = ChatPromptTemplate.from_messages([("system", "只回答类别。"), ("user", "{title}")])
labels = batch_job(llm, [{"title": t} for t in titles], prompt=prompt)
```

Each input is what ``llm.invoke`` takes (a string, messages, a PromptValue), or a row for
``prompt``; every request is built as ``llm.invoke`` would build it (the model's parameters,
``model_kwargs``, ``stop``) and validated before anything is uploaded. The answers come back in
input order: an ``AIMessage`` per answered row (``response_metadata["cost"]`` at batch price),
the row's ``CNLLMError`` in its place for a refused or unanswered one, so a job never fails as a
whole. ``llm.meter`` is charged the batch price. Options are ``cn_llm_client.batch.run_batch``'s
(``state_file`` to resume an interrupted job, ``limits``, ``poll_interval``, ``on_progress``...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage

from cn_llm_client.batch import BatchResults, arun_batch, run_batch
from cn_llm_client.errors import CNLLMError

if TYPE_CHECKING:
    from langchain_core.language_models import LanguageModelInput
    from langchain_core.prompts import BasePromptTemplate

    from langchain_cn_llm.chat_models import ChatCNLLM

__all__ = ["abatch_job", "batch_job"]


def batch_job(
    llm: ChatCNLLM,
    inputs: Iterable[LanguageModelInput | dict[str, Any]],
    *,
    prompt: BasePromptTemplate | None = None,
    **options: Any,
) -> list[AIMessage | CNLLMError]:
    """Run every input through the Batch API; AIMessages (or the row's error) in input order."""
    model, requests = _requests(llm, inputs, prompt)
    return _answers(llm, model, run_batch(llm._sync_client(), requests, **options))


async def abatch_job(
    llm: ChatCNLLM,
    inputs: Iterable[LanguageModelInput | dict[str, Any]],
    *,
    prompt: BasePromptTemplate | None = None,
    **options: Any,
) -> list[AIMessage | CNLLMError]:
    """``batch_job`` on the async client."""
    model, requests = _requests(llm, inputs, prompt)
    return _answers(llm, model, await arun_batch(llm._async_client(), requests, **options))


def _requests(
    llm: ChatCNLLM, inputs: Iterable[Any], prompt: BasePromptTemplate | None
) -> tuple[str, list[dict[str, Any]]]:
    requests, model = [], llm.model
    for index, item in enumerate(inputs):
        value = prompt.invoke(item) if prompt is not None else item
        messages = llm._convert_input(value).to_messages()
        model, openai_messages, params = llm._request(messages, None, {})
        requests.append(
            {"custom_id": str(index), "model": model, "messages": openai_messages, **params}
        )
    return model, requests


def _answers(llm: ChatCNLLM, model: str, results: BatchResults) -> list[AIMessage | CNLLMError]:
    answers: list[AIMessage | CNLLMError] = []
    for row in results:
        if row.error is not None or row.response is None:
            answers.append(row.error or CNLLMError(f"Batch request {row.custom_id}: no answer"))
            continue
        message = llm._chat_result(row.response, model).generations[0].message
        assert isinstance(message, AIMessage)
        message.response_metadata.update(cost=row.cost, batch=True)
        answers.append(message)
    return answers
