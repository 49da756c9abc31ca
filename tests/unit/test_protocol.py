"""Protocol framing and request parsing: bytes in, messages or stable error codes out."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisord_lite.base import protocol
from supervisord_lite.base.protocol import LineBuffer, ProtocolError, decode_request

pytestmark = pytest.mark.timeout(30)


def test_request_round_trip():
    line = protocol.request(7, "status", {"names": ["web"]})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    req = decode_request(line[:-1])
    assert (req.id, req.cmd, req.args) == (7, "status", {"names": ["web"]})


def test_reply_shapes():
    assert protocol.decode_reply(protocol.encode(protocol.ok(1, [1, 2]))) == {
        "id": 1,
        "ok": True,
        "result": [1, 2],
    }
    err = protocol.decode_reply(protocol.encode(protocol.error(2, "NO_SUCH_PROCESS", "x")))
    assert err == {"id": 2, "ok": False, "error": {"code": "NO_SUCH_PROCESS", "message": "x"}}


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 128, 129, 1000])
def test_long_results_encode_to_the_same_bytes(n):
    # encode() takes a long result list in batches; the bytes must not change.
    items = [{"name": f"p{i}", "state": "RUNNING", "pid": i, "é": "ü", "x": None} for i in range(n)]
    for message in (protocol.ok(7, items), {"result": items}, {"result": items, "id": 1}):
        expected = json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n"
        assert protocol.encode(message) == expected.encode()


def test_non_ascii_survives_encoding():
    msg = protocol.ok(1, {"data": "héllo ☃"})
    assert protocol.decode_reply(protocol.encode(msg))["result"]["data"] == "héllo ☃"


@pytest.mark.parametrize(
    "line, code",
    [
        (b"\xff\xfe", "BAD_REQUEST"),
        (b"{not json", "BAD_REQUEST"),
        (b"[1, 2]", "BAD_REQUEST"),
        (b'{"id": 1}', "BAD_REQUEST"),
        (b'{"cmd": 5}', "BAD_REQUEST"),
        (b'{"cmd": "frobnicate"}', "UNKNOWN_COMMAND"),
        (b'{"cmd": "status", "args": [1]}', "BAD_REQUEST"),
    ],
)
def test_malformed_requests_get_stable_codes(line, code):
    with pytest.raises(ProtocolError) as info:
        decode_request(line)
    assert info.value.code == code


def test_missing_args_means_empty():
    assert decode_request(b'{"cmd": "version"}').args == {}
    assert decode_request(b'{"cmd": "version", "args": null}').args == {}


def test_line_buffer_splits_and_keeps_partial_lines():
    buf = LineBuffer()
    assert buf.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert buf.pending == 4
    assert buf.feed(b":2}\n\n") == [b'{"b":2}', b""]
    assert buf.pending == 0


def test_line_buffer_refuses_overlong_lines_complete_or_not():
    buf = LineBuffer(limit=10)
    with pytest.raises(ProtocolError) as info:
        buf.feed(b"x" * 11)
    assert info.value.code == "LINE_TOO_LONG"
    with pytest.raises(ProtocolError):
        LineBuffer(limit=10).feed(b"y" * 20 + b"\n")
    assert LineBuffer(limit=10).feed(b"z" * 10 + b"\n") == [b"z" * 10]


@given(st.binary(max_size=300))
def test_any_bytes_give_a_request_or_a_protocol_error(data):
    try:
        req = decode_request(data)
    except ProtocolError as exc:
        assert exc.code in ("BAD_REQUEST", "UNKNOWN_COMMAND")
    else:
        assert req.cmd in protocol.COMMANDS and isinstance(req.args, dict)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=10,
    )
)
def test_any_json_gives_a_request_or_a_protocol_error(value):
    try:
        decode_request(json.dumps(value).encode())
    except ProtocolError as exc:
        assert exc.code in ("BAD_REQUEST", "UNKNOWN_COMMAND")


@pytest.mark.parametrize(
    "reader, args",
    [
        (lambda a: protocol.arg_names(a), {"names": "web"}),
        (lambda a: protocol.arg_names(a), {"names": [1]}),
        (lambda a: protocol.arg_str(a, "name"), {}),
        (lambda a: protocol.arg_int(a, "lines", 10), {"lines": -1}),
        (lambda a: protocol.arg_int(a, "lines", 10), {"lines": True}),
        (lambda a: protocol.arg_bool(a, "follow"), {"follow": "yes"}),
    ],
)
def test_argument_readers_reject_wrong_types(reader, args):
    with pytest.raises(ProtocolError) as info:
        reader(args)
    assert info.value.code == "BAD_ARGUMENT"


def test_deep_nesting_and_non_scalar_ids_are_bad_requests():
    for line in (b"[" * 100_000, b'{"id": [[1]], "cmd": "version"}', b'{"id": {}, "cmd": "x"}'):
        with pytest.raises(ProtocolError) as info:
            decode_request(line)
        assert info.value.code == "BAD_REQUEST"


def test_errors_after_the_id_echo_it():
    with pytest.raises(ProtocolError) as info:
        decode_request(b'{"id": 9, "cmd": "frobnicate"}')
    assert (info.value.code, info.value.req_id) == ("UNKNOWN_COMMAND", 9)
