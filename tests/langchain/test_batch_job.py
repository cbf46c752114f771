"""batch_job: LangChain inputs through the Batch API, AIMessages back in order (emulator)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate

from cn_llm_client.errors import CNLLMError, InvalidRequestError, ModelNotFoundError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM
from langchain_cn_llm.batch import abatch_job, batch_job

FAST = {"poll_interval": 0.005, "max_poll_interval": 0.02}


@pytest.fixture
def gw(batch_gateway: FakeGateway) -> FakeGateway:
    return batch_gateway


def _llm(gw: FakeGateway, **fields: object) -> ChatCNLLM:
    return ChatCNLLM(
        model="qwen-plus", provider="dashscope", api_key=gw.api_key, base_url=gw.base_url, **fields
    )


def _lines(gw: FakeGateway) -> list[dict]:
    (stored,) = [f for f in gw.batches.files.values() if f.purpose == "batch"]
    return [json.loads(line) for line in stored.content.splitlines()]


def test_strings_and_messages_in_order_with_the_model_params(gw: FakeGateway) -> None:
    llm = _llm(gw, temperature=0.2, stop=["。"])
    inputs = ["你好", [SystemMessage("简短回答"), HumanMessage("再见")]]
    answers = batch_job(llm, inputs, **FAST)
    assert all(isinstance(a, AIMessage) for a in answers)
    assert [a.content for a in answers] == ["[qwen-plus] 收到：你好", "[qwen-plus] 收到：再见"]
    first = answers[0]
    assert isinstance(first, AIMessage) and first.usage_metadata
    assert first.response_metadata["batch"] is True and first.response_metadata["cost"] > 0
    bodies = [line["body"] for line in _lines(gw)]
    assert bodies[0]["temperature"] == 0.2 and bodies[0]["stop"] == ["。"]
    assert bodies[1]["messages"][0] == {"role": "system", "content": "简短回答"}
    assert llm.meter.snapshot()["cost_usd"] == pytest.approx(
        sum(a.response_metadata["cost"] for a in answers if isinstance(a, AIMessage))
    )


def test_a_prompt_over_rows(gw: FakeGateway) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "只回答类别。"), ("user", "{title}")])
    answers = batch_job(_llm(gw), [{"title": "芯片"}, {"title": "足球"}], prompt=prompt, **FAST)
    assert [a.content for a in answers] == ["[qwen-plus] 收到：芯片", "[qwen-plus] 收到：足球"]
    assert _lines(gw)[0]["body"]["messages"][0]["content"] == "只回答类别。"


def test_failed_rows_are_errors_in_place(gw: FakeGateway) -> None:
    gw.batches.expire_next()
    answers = batch_job(_llm(gw), ["一", "二", "三", "四"], **FAST)
    assert [isinstance(a, AIMessage) for a in answers] == [True, True, False, False]
    assert isinstance(answers[3], CNLLMError) and answers[3].code == "batch_expired"


def test_an_unknown_model_fails_per_row_not_as_a_lost_job(gw: FakeGateway) -> None:
    llm = ChatCNLLM(
        model="qwen-nonexistent", provider="dashscope", api_key=gw.api_key, base_url=gw.base_url
    )
    answers = batch_job(llm, ["x"], **FAST)
    assert isinstance(answers[0], ModelNotFoundError)


def test_resumes_with_the_state_file(gw: FakeGateway, tmp_path: Path) -> None:
    state = tmp_path / "jobs.json"
    llm = _llm(gw)
    first = batch_job(llm, ["甲", "乙"], state_file=state, **FAST)
    again = batch_job(llm, ["甲", "乙"], state_file=state, **FAST)
    assert [a.content for a in again] == [a.content for a in first]  # type: ignore[union-attr]
    assert sum(1 for r in gw.requests if r.method == "POST" and r.path == "/v1/batches") == 1


def test_async(gw: FakeGateway) -> None:
    answers = asyncio.run(abatch_job(_llm(gw), ["异步"], **FAST))
    assert isinstance(answers[0], AIMessage) and answers[0].content == "[qwen-plus] 收到：异步"


def test_refused_before_upload(gw: FakeGateway) -> None:
    with pytest.raises(InvalidRequestError, match="no Batch API"):
        batch_job(
            ChatCNLLM(
                model="deepseek-chat", provider="deepseek", api_key="k", base_url=gw.base_url
            ),
            ["x"],
        )
    with pytest.raises(InvalidRequestError, match="temperature"):
        batch_job(_llm(gw, model_kwargs={"top_k": 1}, temperature=7), ["x"])
    assert gw.requests == []
