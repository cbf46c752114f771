"""The SSE decoder: line ends, comments, fields, UTF-8 across reads, any split of the bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cn_llm_client._sse import ServerSentEvent, SSEDecoder


def cut(raw: bytes, cuts: list[int]) -> list[bytes]:
    """`raw` split at the positions `cuts` (as reads off a socket would split it)."""
    points = sorted({min(c, len(raw)) for c in cuts})
    return [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]


def decode(*reads: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for read in reads for event in decoder.feed(read)]
    return events + decoder.flush()


def test_basic_fields_comments_and_multiline_data() -> None:
    stream = (
        b": keep-alive\n\n"
        b"event: message\nid: 7\nretry: 300\ndata: one\ndata:two\nfoo: bar\n\n"
        b"data: [DONE]\n\n"
    )
    assert decode(stream) == [
        ServerSentEvent("message", "one\ntwo", "7", 300),
        ServerSentEvent(None, "[DONE]", "7", None),
    ]


def test_line_ends_cr_lf_crlf_and_crlf_split_across_reads() -> None:
    expected = [ServerSentEvent(None, "a"), ServerSentEvent(None, "b"), ServerSentEvent(None, "c")]
    assert decode(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n") == expected
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r", b"\rdata: c\r\n", b"\r\n") == expected


def test_utf8_character_split_across_reads() -> None:
    raw = 'data: {"content": "你好"}\n\n'.encode()
    cut = raw.index("你".encode()) + 1
    assert decode(raw[:cut], raw[cut:]) == [ServerSentEvent(None, '{"content": "你好"}')]


def test_event_without_data_is_not_dispatched_and_eof_keeps_complete_lines() -> None:
    assert decode(b"event: ping\n\n") == []
    assert decode(b"data: [DONE]\n") == [ServerSentEvent(None, "[DONE]")]
    assert decode(b'data: {"cut') == []  # an unfinished line at EOF is dropped


def test_blank_line_runs_and_field_without_colon() -> None:
    assert decode(b"\n\n\ndata: a\n\n\n\ndata\n\n") == [
        ServerSentEvent(None, "a"),
        ServerSentEvent(None, ""),
    ]


_text = st.text(
    st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=20
)
_events = st.lists(
    st.tuples(
        st.one_of(st.none(), _text.filter(lambda s: s != "")),  # event
        st.lists(_text, min_size=1, max_size=3),  # data lines
        st.one_of(st.none(), _text),  # id
        st.lists(_text, max_size=2),  # comments
    ),
    max_size=8,
)


def _encode(events: list, line_end: bytes) -> tuple[bytes, list[ServerSentEvent]]:
    out: list[bytes] = []
    expected: list[ServerSentEvent] = []
    last_id = None
    for name, data, event_id, comments in events:
        out += [b":" + c.encode() + line_end for c in comments]
        if name is not None:
            out.append(b"event: " + name.encode() + line_end)
        if event_id is not None:
            out.append(b"id: " + event_id.encode() + line_end)
            last_id = event_id
        out += [b"data: " + d.encode() + line_end for d in data]
        out.append(line_end)
        expected.append(ServerSentEvent(name, "\n".join(data), last_id, None))
    return b"".join(out), expected


@given(
    _events, st.sampled_from([b"\n", b"\r", b"\r\n"]), st.lists(st.integers(0, 400), max_size=12)
)
def test_any_split_gives_the_same_events(events: list, line_end: bytes, cuts: list[int]) -> None:
    raw, expected = _encode(events, line_end)
    pieces = cut(raw, cuts)
    assert decode(raw) == expected
    assert decode(*pieces) == expected


def decode_raw(*reads: bytes) -> list[bytes | ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for read in reads for event in decoder.feed_raw(read)]
    return events + decoder.flush_raw()


def as_event(item: bytes | ServerSentEvent) -> tuple[str | None, str]:
    if isinstance(item, bytes):
        return None, item.decode("utf-8", "replace")
    assert item.event is not None  # only named events come as objects
    return item.event, item.data


def test_feed_raw_hands_out_data_bytes_and_named_events() -> None:
    stream = (
        b'data: {"a": 1}\n\ndata: \xe4\xbd\xa0\n\n: ping\n\nid: 3\ndata: x\ndata: y\n\n'
        b'event: error\ndata: {"error": "boom"}\n\ndata: [DONE]\n'
    )
    expected = [
        b'{"a": 1}',
        "你".encode(),
        b"x\ny",
        ServerSentEvent("error", '{"error": "boom"}', "3"),
        b"[DONE]",
    ]
    assert decode_raw(stream) == expected
    assert decode_raw(*[stream[i : i + 5] for i in range(0, len(stream), 5)]) == expected
    plain = b'data: {"n": 1}\n\ndata: {"n": 2}\n\ndata: {"n'
    decoder = SSEDecoder()
    assert decoder.feed_raw(plain) == [b'{"n": 1}', b'{"n": 2}']
    assert decoder.feed_raw(b'": 3}\r\n\r\n') == [b'{"n": 3}']


def test_plain_reads_keep_the_last_id() -> None:
    assert decode(b"id: 7\ndata: a\n\n", b"data: b\n\ndata: c\n\n") == [
        ServerSentEvent(None, "a", "7"),
        ServerSentEvent(None, "b", "7"),
        ServerSentEvent(None, "c", "7"),
    ]


@given(
    _events, st.sampled_from([b"\n", b"\r", b"\r\n"]), st.lists(st.integers(0, 400), max_size=12)
)
def test_feed_raw_agrees_with_feed(events: list, line_end: bytes, cuts: list[int]) -> None:
    raw, expected = _encode(events, line_end)
    pieces = cut(raw, cuts)
    assert [as_event(item) for item in decode_raw(*pieces)] == [
        (event.event, event.data) for event in expected
    ]


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_random_bytes_give_only_events(raw: bytes, cuts: list[int]) -> None:
    pieces = cut(raw, cuts)
    events = decode(*pieces)
    assert events == decode(raw)
    assert all(isinstance(e, ServerSentEvent) and isinstance(e.data, str) for e in events)
    assert [as_event(item) for item in decode_raw(*pieces)] == [(e.event, e.data) for e in events]


def test_ten_thousand_events_across_large_reads() -> None:
    """Decoding speed is measured in benchmarks/micro_stream.py, never asserted here."""
    event = b'data: {"choices":[{"index":0,"delta":{"content":"\xe4\xbd\xa0"}}]}\n\n'
    raw = event * 10_000
    reads = [raw[i : i + 16384] for i in range(0, len(raw), 16384)]
    events = decode(*reads)
    assert len(events) == 10_000
    assert events[-1].data.endswith('"你"}}]}')
