"""Per-provider behaviour of the emulator: error shapes, thinking switches, local servers.

Each mode answers errors the way that server does (../shared/docs/wire-facts.md); `error_body`
picks the shape, `ERROR_CODES` the code each server uses for a status.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LOADED_MODEL", "LOCAL_MODES", "MODES", "error_body", "error_code"]

MODES = (
    "aisa",
    "deepseek",
    "dashscope",
    "zhipu",
    "moonshot",
    "siliconflow",
    "ollama",
    "vllm",
    "llamacpp",
    "lmstudio",
)
LOCAL_MODES = frozenset({"ollama", "vllm", "llamacpp", "lmstudio"})
# The model a single-model server has loaded: it answers under any name (presets' serves_any_model).
LOADED_MODEL = {"llamacpp": "qwen2.5-0.5b-instruct-q4_k_m.gguf", "lmstudio": "qwen2.5-7b-instruct"}

# status -> (type, code) for each mode; codes follow each provider's own documentation style.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_balance_error",
    403: "permission_error",
    404: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
ERROR_CODES: dict[str, dict[int, str]] = {
    "aisa": {
        400: "invalid_request",
        401: "invalid_api_key",
        402: "insufficient_balance",
        403: "insufficient_permissions",
        404: "unknown_model",
        422: "unsupported_parameter",
        429: "rate_limit_exceeded",
        500: "server_error",
        502: "upstream_error",
        503: "service_unavailable",
        504: "upstream_timeout",
    },
    "dashscope": {
        400: "InvalidParameter",
        401: "InvalidApiKey",
        402: "Arrearage",
        403: "AccessDenied",
        404: "ModelNotFound",
        422: "InvalidParameter",
        429: "Throttling.RateQuota",
        500: "InternalError",
        502: "InternalError",
        503: "ServiceUnavailable",
        504: "RequestTimeOut",
    },
    "zhipu": {
        400: "1214",
        401: "1002",
        402: "1113",
        403: "1220",
        404: "1211",
        422: "1214",
        429: "1302",
        500: "500",
    },
    "siliconflow": {400: "20015", 401: "20016", 402: "30011", 404: "20012", 429: "50603"},
}
_AISA_TYPES = {
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "upstream_error",
    503: "api_error",
    504: "upstream_error",
}
_MOONSHOT_TYPES = {
    401: "invalid_authentication_error",
    402: "exceeded_current_quota_error",
    403: "permission_denied_error",
    404: "resource_not_found_error",
    429: "rate_limit_reached_error",
    503: "engine_overloaded_error",
}
_VLLM_TYPES = {400: "BadRequestError", 401: "Unauthorized", 404: "NotFoundError"}
_LLAMACPP_TYPES = {  # llama-server's error types (tools/server/utils.hpp)
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    501: "not_supported_error",
    503: "unavailable_error",
}


def error_code(mode: str, status: int) -> str:
    """The code `mode` puts in an error body for `status` (generic when it has no table)."""
    codes = ERROR_CODES.get(mode, ERROR_CODES["aisa"])
    if status in codes:
        return codes[status]
    return "server_error" if status >= 500 else "invalid_request"


def _type(status: int, table: dict[int, str]) -> str:
    if status in table:
        return table[status]
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(
    mode: str, status: int, message: str, *, code: str | None = None, request_id: str = ""
) -> dict[str, Any]:
    """The JSON body `mode` sends for an error; `code` overrides the status's usual code."""
    code = code or error_code(mode, status)
    if mode == "aisa":
        kind = _type(status, _AISA_TYPES)
        return {"error": {"type": kind, "code": code, "message": message, "request_id": request_id}}
    if mode == "dashscope":
        kind = _type(status, _OPENAI_TYPES)
        body = {"message": message, "type": kind, "code": code, "param": None}
        return {"error": body, "request_id": request_id}
    if mode == "zhipu":
        return {"error": {"code": code, "message": message}}
    if mode == "siliconflow":
        return {"code": int(code) if code.isdigit() else code, "message": message, "data": None}
    if mode == "moonshot":
        return {"error": {"message": message, "type": _type(status, _MOONSHOT_TYPES)}}
    if mode == "vllm":
        kind = _type(status, _VLLM_TYPES)
        return {"object": "error", "message": message, "type": kind, "param": None, "code": status}
    if mode == "llamacpp":
        return {
            "error": {"code": status, "message": message, "type": _type(status, _LLAMACPP_TYPES)}
        }
    # deepseek, ollama and lmstudio speak the OpenAI shape.
    kind = _type(status, _OPENAI_TYPES)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
