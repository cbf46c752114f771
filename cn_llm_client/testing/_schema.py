"""A deterministic instance of a JSON schema, for emulated tool arguments and structured output.

    >>> schema_instance({"type": "object", "properties": {"n": {"type": "integer"}}}, "take 42")
    {'n': 42}

Strings named like an entity (city, location, name, country, from, to, language, ...: a part of
the property name) take the entities of the text in order, as a model would: quoted spans, runs of
Capitalised words (not a sentence's first word when the sentence has another entity, nor question
words and verbs such as What / Use / Tell) and well-known Chinese place names, the last one
repeating; `get_weather(city)` for "What is the weather in Beijing?" gets "Beijing", for
"北京天气怎么样" gets "北京". Strings named like a formula (expression, formula, equation) take the
text's arithmetic ("12 * 7"). Other strings, and entity strings when the text has none, take the
user text (or the property name when there is none). Numbers take the numbers of the
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

__all__ = ["entities", "numbers", "schema_instance", "words"]


def words(text: str) -> frozenset[str]:
    """The words of `text`: word lists written as prose."""
    return frozenset(text.split())


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(
    r"[\"“「《『]([^\"”」》』\n]{1,80})[\"”」》』]|(?<![A-Za-z])'([^'\n]{1,80})'(?![A-Za-z])"
)
_CAPITALISED_RUN = re.compile(r"[A-Z][\w'-]*(?:[ ](?:[A-Z][\w'-]*|of|de|la|van|von))*(?<![ ]of)")
_SENTENCE = re.compile(r"[^.!?。！？\n]+")
# Capitalised words that are not names: question words, pronouns, verbs that open a request.
_NOT_NAMES = words(
    "a an and are at be but by can compare could did do does find first for from get give "
    "had has have hello hey hi how i if in is it let list look me my next no of ok on or "
    "please search should show tell thanks thank the then there this to translate use was "
    "we what when where which who why will would write yes you"
)
# Place names a user writes in Chinese, for the entity-like arguments of Chinese prompts.
_CHINESE_PLACES = re.compile(
    "北京|上海|广州|深圳|杭州|南京|苏州|成都|重庆|武汉|西安|天津|长沙|青岛|厦门|昆明|大连|沈阳|"
    "哈尔滨|郑州|济南|福州|合肥|南昌|贵阳|南宁|海口|三亚|拉萨|乌鲁木齐|兰州|西宁|银川|呼和浩特|"
    "石家庄|太原|长春|香港|澳门|台北|东京|首尔|纽约|伦敦|巴黎|新加坡|中国|日本|美国|英国|法国|德国"
)
_ENTITY_PARTS = words(
    "address arrival brand city company country departure destination from lang language "
    "location name origin person place province region state symbol ticker to town where"
)
_FORMULA_PARTS = frozenset({"expression", "expr", "formula", "equation", "math"})
_ARITHMETIC = re.compile(r"[-+*/×÷^%().\d ]*\d[-+*/×÷^%().\d ]*")


def entities(text: str) -> list[str]:
    """The names in `text` a model would pass as arguments, in the order they appear."""
    found: list[tuple[int, str]] = []
    for match in _QUOTED.finditer(text):
        found.append((match.start(), (match[1] or match[2]).strip()))
    unquoted = _QUOTED.sub(lambda m: " " * len(m[0]), text)
    for sentence in _SENTENCE.finditer(unquoted):
        runs = []
        for run in _CAPITALISED_RUN.finditer(sentence[0]):
            words = run[0].split(" ")
            while words and words[0].lower() in _NOT_NAMES:
                words.pop(0)
            if words:
                start = sentence.start() + run.start()
                opening = not sentence[0][: run.start()].strip()
                runs.append(
                    (start, " ".join(words), opening and len(words) == len(run[0].split(" ")))
                )
        named = [r for r in runs if not r[2]]
        for start, name, opening in runs:
            if not (opening and named):  # "Weather in Paris": Paris, not Weather
                found.append((start, name))
    found.extend((m.start(), m[0]) for m in _CHINESE_PLACES.finditer(unquoted))
    return [name for _, name in sorted(found)]


def _name_parts(name: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name)
    return {part for part in re.split(r"[^A-Za-z]+", spaced.lower()) if part}


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
        self.entities = entities(text)
        self.entities_used = 0

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
        text = _FORMATS.get(schema.get("format", "")) or self._from_text(name) or name
        text = text.ljust(int(schema.get("minLength", 0)), "x")
        return text[: int(schema["maxLength"])] if "maxLength" in schema else text

    def _from_text(self, name: str) -> str:
        """What a model would put in a string argument called `name`."""
        parts = _name_parts(name)
        if parts & _ENTITY_PARTS and self.entities:
            entity = self.entities[min(self.entities_used, len(self.entities) - 1)]
            self.entities_used += 1
            return entity
        if parts & _FORMULA_PARTS:
            spans = [
                s.strip()
                for s in _ARITHMETIC.findall(self.text)
                if re.search(r"\d\s*[-+*/×÷^%]", s)
            ]
            if spans:
                return max(spans, key=len)
        return self.text

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
