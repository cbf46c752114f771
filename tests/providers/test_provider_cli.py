"""`cn-llm --provider X chat ...` against the emulator in X's mode, through the CLI's main()."""

from __future__ import annotations

import pytest
from provider_surfaces import CASES, NAMED_MODELS, Case, dig

from cn_llm_client.cli import main
from cn_llm_client.testing import FakeGateway


@pytest.fixture(autouse=True)
def _keys(case: Case, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    for other in CASES:
        if other.key_env:
            monkeypatch.delenv(other.key_env, raising=False)
    monkeypatch.delenv("AISA_BASE_URL", raising=False)
    if case.key_env:  # the key comes from the provider's own variable
        monkeypatch.setenv(case.key_env, gateway.api_key or "")


def _argv(case: Case, gateway: FakeGateway, *rest: str) -> list[str]:
    key = [] if case.key_env or case.local else ["--api-key", gateway.api_key or ""]
    return ["--provider", case.provider, "--base-url", gateway.base_url, *key, *rest]


def test_chat(case: Case, gateway: FakeGateway, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _argv(case, gateway, "chat", "--model", case.chat_model, "--message", "你好")

    assert main(argv) == 0

    out, err = capsys.readouterr()
    assert f"[{case.chat_model}] 收到：你好" in out
    assert case.chat_model in err  # the footer
    assert gateway.requests[0].body["model"] == case.chat_model


def test_stream(case: Case, gateway: FakeGateway, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _argv(case, gateway, "chat", "--model", case.chat_model, "--message", "hi", "--stream")

    assert main(argv) == 0

    assert f"[{case.chat_model}] hi" in capsys.readouterr().out
    assert gateway.requests[0].body["stream"] is True


def test_provider_after_the_subcommand(
    case: Case, gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    provider, *rest = _argv(case, gateway)[1:]
    argv = ["chat", "--model", case.chat_model, "--message", "hi", "--provider", provider, *rest]

    assert main(argv) == 0
    assert f"[{case.chat_model}] hi" in capsys.readouterr().out
    assert dig(gateway.requests[0].body, case.switch) is None


@pytest.mark.parametrize("case", NAMED_MODELS, ids=str)
def test_unknown_model_exits_1(
    case: Case, gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _argv(case, gateway, "chat", "--model", "no-such-model", "--message", "hi")

    assert main(argv) == 1

    err = capsys.readouterr().err
    assert err.startswith("cn-llm: error:")
    assert "no-such-model" in err
    assert gateway.api_key not in err
