"""The SSE decoder: line ends, comments, fields, UTF-8 across reads, any split of the bytes."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from cn_llm_client._sse import ServerSentEvent, SSEDecoder


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
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert decode(raw) == expected
    assert decode(*pieces) == expected


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_random_bytes_give_only_events(raw: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    events = decode(*pieces)
    assert events == decode(raw)
    assert all(isinstance(e, ServerSentEvent) and isinstance(e.data, str) for e in events)


def test_ten_thousand_events_decode_fast() -> None:
    event = b'data: {"choices":[{"index":0,"delta":{"content":"\xe4\xbd\xa0"}}]}\n\n'
    raw = event * 10_000
    reads = [raw[i : i + 16384] for i in range(0, len(raw), 16384)]
    started = time.perf_counter()
    events = decode(*reads)
    elapsed = time.perf_counter() - started
    assert len(events) == 10_000
    assert events[-1].data.endswith('"你"}}]}')
    assert elapsed < 0.5  # generous sanity bound; measured 20-30 ms on the shared 2-core box
