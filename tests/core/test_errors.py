"""The error hierarchy and the mapping of real servers' error bodies."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import orjson
import pytest

from cn_llm_client import errors
from cn_llm_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CNLLMError,
    ConfigurationError,
    InsufficientBalanceError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    error_from_event,
    is_error_body,
    status_error,
)
from cn_llm_client.testing._modes import MODES, error_body


def body(obj: object) -> bytes:
    return orjson.dumps(obj)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (422, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientBalanceError),
        (403, PermissionDeniedError),
        (404, ModelNotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (409, APIStatusError),
    ],
)
def test_status_picks_class(status: int, cls: type) -> None:
    error = status_error(status, b"", {})
    assert type(error) is cls
    assert error.status_code == status
    assert error.partial is None


def test_aisa_shape() -> None:
    raw = {
        "error": {
            "type": "authentication_error",
            "code": "invalid_api_key",
            "message": "Invalid API key",
            "request_id": "req_9",
        }
    }
    error = status_error(401, body(raw), {})
    assert isinstance(error, AuthenticationError)
    assert (error.code, error.type, error.request_id) == (
        "invalid_api_key",
        "authentication_error",
        "req_9",
    )
    assert error.body == raw
    line = str(error)
    assert "\n" not in line
    for part in ("401", "invalid_api_key", "Invalid API key", "req_9", "AISA_API_KEY"):
        assert part in line


def test_dashscope_pascal_codes_override_status() -> None:
    def err(code: str, status: int = 400) -> APIStatusError:
        raw = {"error": {"message": "m", "type": "t", "code": code, "param": None}}
        return status_error(status, body(raw), {})

    assert isinstance(err("InvalidApiKey", 401), AuthenticationError)
    assert isinstance(err("Throttling.RateQuota", 429), RateLimitError)
    assert isinstance(err("ModelNotFound", 404), ModelNotFoundError)
    assert isinstance(err("Arrearage"), InsufficientBalanceError)


def test_openai_insufficient_quota_is_not_a_rate_limit() -> None:
    raw = {
        "error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}
    }
    assert isinstance(status_error(429, body(raw), {}), InsufficientBalanceError)


def test_deepseek_and_vllm_shapes() -> None:
    deepseek = {
        "error": {
            "message": "Insufficient Balance",
            "type": "unknown_error",
            "param": None,
            "code": "invalid_request_error",
        }
    }
    error = status_error(402, body(deepseek), {"x-request-id": "ds-1"})
    assert isinstance(error, InsufficientBalanceError)
    assert error.message == "Insufficient Balance"
    assert error.request_id == "ds-1"
    assert "Top up" in str(error)
    vllm = {"object": "error", "message": "bad temperature", "type": "BadRequestError", "code": 400}
    error = status_error(400, body(vllm), {})
    assert (error.message, error.code) == ("bad temperature", "400")


def test_html_502_is_brief() -> None:
    page = (
        b"<html><head><style>p{}</style><title>502 Bad Gateway</title></head><body>"
        + b"<p>nginx</p>" * 200
        + b"</body></html>"
    )
    error = status_error(502, page, {"Request-Id": "r-7"})
    assert isinstance(error, ServerError)
    assert "<" not in error.message and "p{}" not in error.message
    assert error.message.startswith("502 Bad Gateway nginx")
    assert len(error.message) <= 200
    assert error.request_id == "r-7"
    assert str(error).count("\n") == 0


def test_empty_body_uses_reason_phrase() -> None:
    error = status_error(503, b"", {})
    assert error.message == "Service Unavailable"
    assert str(error).startswith("HTTP 503 Service Unavailable")


def test_retry_after_seconds_and_date() -> None:
    assert status_error(429, b"{}", {"Retry-After": "7"}).retry_after == 7.0
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    wait = status_error(429, b"{}", {"retry-after": later}).retry_after
    assert wait is not None and 25 < wait <= 30
    assert status_error(429, b"{}", {"retry-after": "soon"}).retry_after is None
    error = status_error(429, b"{}", {"retry-after": "2"})
    assert "retry after 2 s" in str(error)


def test_error_event_in_stream() -> None:
    rate = error_from_event(
        {"error": {"code": "rate_limit_exceeded", "message": "slow down"}}, request_id="r1"
    )
    assert isinstance(rate, RateLimitError) and rate.request_id == "r1"
    upstream = error_from_event({"error": {"type": "upstream_error", "message": "boom"}})
    assert type(upstream) is ServerError and upstream.message == "boom"
    by_status = error_from_event({"error": {"message": "nope", "code": 401}})
    assert isinstance(by_status, AuthenticationError) and by_status.status_code == 401
    bare = error_from_event({"error": "text only"})
    assert type(bare) is ServerError and bare.message == "text only"


def test_model_not_found_suggestions_in_message() -> None:
    error = ModelNotFoundError(
        "Unknown model qwen-max3", status_code=404, suggestions=["qwen3-max"]
    )
    assert "Did you mean: qwen3-max?" in str(error)


@pytest.mark.parametrize(
    "error",
    [
        status_error(
            429,
            body({"error": {"code": "rate_limit_exceeded", "message": "m"}}),
            {"retry-after": "1"},
        ),
        ModelNotFoundError("m", status_code=404, suggestions=["a"]),
        StreamInterruptedError("cut", partial={"choices": []}),
        APITimeoutError("slow", host="api.aisa.one"),
        ProtocolError("bad", status_code=200, body="x"),
        ConfigurationError("no key"),
    ],
)
def test_pickle_round_trip(error: CNLLMError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)


def test_hierarchy() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(ProtocolError, ServerError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(BadRequestError, APIStatusError)
    assert all(
        issubclass(getattr(errors, name), CNLLMError)
        for name in errors.__all__
        if name[0].isupper()
    )


# --------------------------------------------- the shapes of the other OpenAI-compatible servers


def test_siliconflow_top_level_shape() -> None:
    raw = {"code": 20015, "message": "Length of prompt exceeds the limit", "data": None}
    error = status_error(400, body(raw), {})
    assert type(error) is BadRequestError
    assert (error.code, error.message) == ("20015", "Length of prompt exceeds the limit")
    assert error.body == raw
    # SiliconFlow answers an unknown model and an empty balance with 400 and 403
    missing = {"code": 20012, "message": "Model does not exist. Please check it carefully."}
    assert isinstance(status_error(400, body(missing), {}), ModelNotFoundError)
    broke = {"code": 30011, "message": "Sorry, your account balance is insufficient", "data": None}
    assert isinstance(status_error(403, body(broke), {}), InsufficientBalanceError)


def test_vllm_object_error_shape() -> None:
    raw = {
        "object": "error",
        "message": "The model `qwen3` does not exist.",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }
    error = status_error(404, body(raw), {})
    assert isinstance(error, ModelNotFoundError)
    assert (error.message, error.type) == ("The model `qwen3` does not exist.", "NotFoundError")


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "1211", ModelNotFoundError),  # model does not exist
        (429, "1113", InsufficientBalanceError),  # account in arrears
        (401, "1002", AuthenticationError),  # invalid token
        (400, "1220", PermissionDeniedError),  # no permission for this API
        (429, "1302", RateLimitError),  # too much concurrency
        (400, "1214", BadRequestError),  # invalid parameter
    ],
)
def test_zhipu_numeric_string_codes(status: int, code: str, cls: type) -> None:
    error = status_error(status, body({"error": {"code": code, "message": "模型不存在"}}), {})
    assert type(error) is cls
    assert (error.code, error.message, error.status_code) == (code, "模型不存在", status)
    assert "\n" not in str(error) and code in str(error)


def test_ollama_error_is_a_plain_string() -> None:
    error = status_error(404, body({"error": "model 'qwen9' not found"}), {})
    assert isinstance(error, ModelNotFoundError)
    assert error.message == "model 'qwen9' not found" and error.code is None
    error = status_error(500, body({"error": "model requires more system memory"}), {})
    assert type(error) is ServerError and "more system memory" in str(error)


_EXPECTED = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    404: ModelNotFoundError,
    422: BadRequestError,
    429: RateLimitError,
    500: ServerError,
    502: ServerError,
    503: ServerError,
}


@pytest.mark.parametrize("mode", MODES)
def test_every_emulator_error_shape_maps_to_its_class(mode: str) -> None:
    for status, cls in _EXPECTED.items():
        raw = error_body(mode, status, "went wrong", request_id="req-1")
        error = status_error(status, body(raw), {})
        assert type(error) is cls, (mode, status, raw)
        assert error.message == "went wrong"
        assert error.status_code == status


@pytest.mark.parametrize("mode", MODES)
def test_every_emulator_error_shape_is_an_error_inside_a_stream(mode: str) -> None:
    raw = error_body(mode, 404, "no such model")
    assert is_error_body(raw)
    error = error_from_event(raw, request_id="r-9")
    assert isinstance(error, ModelNotFoundError), (mode, raw)
    assert (error.message, error.request_id) == ("no such model", "r-9")


def test_moonshot_types_name_the_class() -> None:
    slow = error_from_event({"error": {"message": "m", "type": "rate_limit_reached_error"}})
    assert isinstance(slow, RateLimitError)
    # Moonshot reports an empty balance as 429 exceeded_current_quota_error: not a rate limit
    quota = {"error": {"message": "suspended", "type": "exceeded_current_quota_error"}}
    assert isinstance(status_error(429, body(quota), {}), InsufficientBalanceError)


def test_is_error_body() -> None:
    assert not is_error_body({"id": "c1", "choices": [], "usage": {"total_tokens": 3}})
    assert not is_error_body({"choices": [{"delta": {"content": "hi"}}], "error": None})
    assert is_error_body({"error": "boom"})
    assert is_error_body({"object": "error", "message": "m", "code": 400})
    assert is_error_body({"code": 50603, "message": "System is too busy now", "data": None})


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "1e999", "-inf"])
def test_retry_after_that_is_not_a_finite_number_is_ignored(value: str) -> None:
    # float() accepts these; a NaN wait would reach time.sleep and raise ValueError there.
    assert status_error(429, b"{}", {"Retry-After": value}).retry_after is None
    assert status_error(429, b"{}", {"retry-after-ms": value}).retry_after is None


def test_retry_after_date_without_zone_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 5322 "-0000" parses to a naive datetime; it means UTC, not the machine's local time.
    import time

    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=30)
        wait = status_error(429, b"{}", {"Retry-After": format_datetime(later)}).retry_after
    finally:
        monkeypatch.undo()
        time.tzset()
    assert wait is not None and 25 < wait <= 30


def test_error_event_with_a_non_ascii_digit_code() -> None:
    # "²".isdigit() is True but int("²") raises: the code is not a status.
    error = error_from_event({"error": {"code": "²", "message": "odd"}})
    assert type(error) is ServerError and error.status_code is None and error.code == "²"


# -- the call's context: provider key variable, unknown models behind proxies, suggestions -----


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        ("deepseek", "DEEPSEEK_API_KEY"),
        ("dashscope", "DASHSCOPE_API_KEY"),
        ("aisa", "AISA_API_KEY"),
    ],
)
def test_401_hint_names_the_providers_own_key_variable(provider: str, variable: str) -> None:
    raw = body({"error": {"code": "invalid_api_key", "message": "Bad key"}})
    error = status_error(401, raw, {}, provider=provider)
    assert isinstance(error, AuthenticationError)
    assert f"Check {variable}" in str(error)
    if variable != "AISA_API_KEY":
        assert "AISA_API_KEY" not in str(error)
    event = error_from_event(
        {"error": {"code": "invalid_api_key", "message": "x"}}, provider=provider
    )
    assert f"Check {variable}" in str(event)


LITELLM_UNKNOWN = {
    "error": {
        "message": "/chat/completions: Invalid model name passed in model=qwen3-mx. "
        "Call `/v1/models` to view available models for your key.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "400",
    }
}
# LiteLLM before 1.6x nested the message as a dict (BerriAI/litellm#8821).
LITELLM_NESTED = {
    "error": {
        "message": {"error": "/chat/completions: Invalid model name passed in model=qwen3-mx."},
        "type": "None",
        "param": "None",
        "code": "400",
    }
}


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (400, LITELLM_UNKNOWN),
        (400, LITELLM_NESTED),
        # one-api's answer (songquanpeng/one-api#2223): no channel serves that id in the group
        (
            503,
            {
                "error": {
                    "message": "当前分组 default 下对于模型 qwen3-mx 无可用渠道",
                    "type": "one_api_error",
                }
            },
        ),
        # new-api's English wording, with its code
        (
            503,
            {
                "error": {
                    "message": "No available channel for model qwen3-mx under group default",
                    "type": "new_api_error",
                    "code": "model_not_found",
                }
            },
        ),
        (503, {"error": {"message": "No available channels", "type": "upstream_error"}}),
    ],
)
def test_proxy_style_unknown_model_is_model_not_found(status: int, raw: dict) -> None:
    error = status_error(status, body(raw), {}, model="qwen3-mx", provider="aisa")
    assert isinstance(error, ModelNotFoundError), type(error)
    assert error.status_code == status and error.body == raw
    assert error.suggestions and error.suggestions[0] == "qwen3-max"
    assert "Did you mean: qwen3-max" in str(error) and "\n" not in str(error)


def test_no_channel_for_a_catalog_model_stays_a_retryable_server_error() -> None:
    # one-api says the same when every channel serving a known model is down: an outage.
    raw = {"error": {"message": "当前分组 default 下对于模型 qwen3-max 无可用渠道"}}
    error = status_error(503, body(raw), {}, model="qwen3-max", provider="aisa")
    assert type(error) is ServerError


def test_suggestions_come_from_the_current_provider_and_never_repeat_the_failed_id() -> None:
    # deepseek-chat is DeepSeek's own id; through AIsa it is unknown, and suggesting it again
    # would send the user in a circle.
    raw = body({"error": {"code": "unknown_model", "message": "Unknown model deepseek-chat"}})
    error = status_error(404, raw, {}, model="deepseek-chat", provider="aisa")
    assert isinstance(error, ModelNotFoundError)
    assert error.suggestions and "deepseek-chat" not in error.suggestions
    from cn_llm_client.catalog import list_models

    aisa_ids = {m.id for m in list_models("aisa")}
    assert set(error.suggestions) <= aisa_ids
    assert "deepseek-chat" not in str(error).split("Did you mean", 1)[-1]


def test_a_catalog_id_the_server_does_not_serve_says_the_catalog_may_be_behind() -> None:
    raw = body({"error": {"code": "unknown_model", "message": "Unknown model qwen3-max"}})
    error = status_error(404, raw, {}, model="qwen3-max", provider="aisa")
    assert isinstance(error, ModelNotFoundError)
    text = str(error)
    assert "catalog may be behind" in text and "cn-llm models --remote" in text
    assert "Did you mean" not in text and "\n" not in text


def test_a_json_message_holding_a_traceback_is_one_short_line() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/app/server.py", line 12, in handle\n'
        "    result = model.generate(prompt)\n"
        '  File "/app/llama.py", line 99, in generate\n'
        "    raise ValueError('Requested tokens (5000) exceed context window of 2048')\n"
        "ValueError: Requested tokens (5000) exceed context window of 2048" + " padding" * 40
    )
    error = status_error(500, body({"error": {"message": traceback, "type": "server_error"}}), {})
    text = str(error)
    assert "\n" not in text and "  " not in text
    assert len(text) <= 300
    assert text.startswith("HTTP 500 Traceback (most recent call last): File")
    assert error.message == traceback  # the whole server message stays on the exception
    event = error_from_event({"error": {"message": traceback}})
    assert "\n" not in str(event) and len(str(event)) <= 300 and event.message == traceback


def test_a_404_of_a_call_without_a_model_is_not_about_a_model() -> None:
    """A missing file or batch (GET /files/x) is not a model id to check."""
    raw = body({"error": {"message": "No such file: file-9", "type": "invalid_request_error"}})
    error = status_error(404, raw, {}, model=None, provider="dashscope")
    assert type(error) is APIStatusError and error.status_code == 404
    assert "model" not in str(error).lower()
    # a code that names a model still wins, and without call context a 404 stays as it was
    coded = body({"error": {"code": "model_not_found", "message": "gone"}})
    assert isinstance(status_error(404, coded, {}, model=None), ModelNotFoundError)
    assert isinstance(status_error(404, raw, {}), ModelNotFoundError)
