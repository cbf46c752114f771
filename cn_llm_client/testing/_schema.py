"""A deterministic instance of a JSON schema, for emulated tool arguments and structured output.

    >>> schema_instance({"type": "object", "properties": {"n": {"type": "integer"}}}, "take 42")
    {'n': 42}

Strings take the user text (or the property name when there is none), numbers the numbers of the
text in order (`a`, `b` of "12.5 times 8" are 12.5 and 8; the last one repeats), enums their first value, booleans true, arrays one item
(none when nested deep, so recursive schemas end). `$ref` into `$defs` /
`definitions`, `anyOf` / `oneOf` (first branch), `allOf` (merged), type lists, `const`,
common formats and length / range bounds are honoured so the instance validates.
Written by hand: generators such as hypothesis-jsonschema are random and pull test-only
dependencies into the emulator, which must answer the same way every time.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["numbers", "schema_instance"]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
}


def numbers(text: str) -> list[float]:
    """Every number written in `text`, in order."""
    return [float(n) for n in _NUMBER.findall(text)]


def schema_instance(schema: dict[str, Any], text: str, name: str = "value") -> Any:
    """An instance of `schema` filled from `text` (see the module docstring)."""
    return _Generator(schema, text).value(schema, name)


class _Generator:
    def __init__(self, root: dict[str, Any], text: str) -> None:
        self.root = root
        self.text = text.strip()
        self.numbers = numbers(text) or [1.0]
        self.numbers_used = 0

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        for _ in range(32):  # bounded: a self-referencing $ref must not hang the server
            ref = schema.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return schema
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def value(self, schema: Any, name: str, depth: int = 0) -> Any:
        if not isinstance(schema, dict) or depth > 8:
            return None
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                branches = [self.resolve(s) for s in schema[key] if isinstance(s, dict)]
                non_null = [s for s in branches if s.get("type") != "null"] or branches
                return self.value(non_null[0], name, depth + 1)
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self.resolve(part)
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                merged = {**merged, **part, "properties": props}
            return self.value(merged, name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return getattr(self, f"_{kind}", self._string)(schema, name, depth)

    def _object(self, schema: dict[str, Any], name: str, depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        return {key: self.value(sub, key, depth + 1) for key, sub in props.items()}

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        size = max(int(schema.get("minItems", 0)), 1 if depth < 3 else 0)  # recursive schemas end
        if "maxItems" in schema:
            size = min(size, int(schema["maxItems"]))
        return [self.value(schema.get("items", {}), name, depth + 1) for _ in range(size)]

    def _string(self, schema: dict[str, Any], name: str, depth: int) -> str:
        text = _FORMATS.get(schema.get("format", "")) or self.text or name
        text = text.ljust(int(schema.get("minLength", 0)), "x")
        return text[: int(schema["maxLength"])] if "maxLength" in schema else text

    def _number(self, schema: dict[str, Any], name: str, depth: int) -> float:
        value = self.numbers[min(self.numbers_used, len(self.numbers) - 1)]
        self.numbers_used += 1
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is not None and value <= low:
            value = low + (1 if "exclusiveMinimum" in schema else 0)
        if high is not None and value >= high:
            value = high - (1 if "exclusiveMaximum" in schema else 0)
        return value

    def _integer(self, schema: dict[str, Any], name: str, depth: int) -> int:
        return int(self._number(schema, name, depth))

    def _boolean(self, schema: dict[str, Any], name: str, depth: int) -> bool:
        return True

    def _null(self, schema: dict[str, Any], name: str, depth: int) -> None:
        return None
