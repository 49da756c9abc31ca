"""supervisor_wire/xmlrpc.py: Supervisor's wire, checked against supervisor's own code and
hostile input.

Hostile requests must end in BadRequest (a fault to send), never in another exception;
each runs under the module's pytest timeout, so a parse that blew up in time or memory
would fail here rather than hang a daemon.
"""

from __future__ import annotations

import datetime
import time
import xmlrpc.client
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from supervisor import states as sv_states
from supervisor import xmlrpc as sv_xmlrpc
from supervisor.rpcinterface import SupervisorNamespaceRPCInterface

from supervisord_lite.supervisor_wire import xmlrpc as codec

pytestmark = pytest.mark.timeout(30)


# --- codes and fault texts ----------------------------------------------------------------


def test_fault_codes_are_supervisors():
    theirs = {name: code for name, code in vars(sv_xmlrpc.Faults).items() if name.isupper()}
    assert {name: code for code, name in codec.FAULT_NAMES.items()} == theirs
    for name, code in theirs.items():
        assert getattr(codec, name) == code


@pytest.mark.parametrize("code", [*sorted(codec.FAULT_NAMES), 0, 5, 99, 1000])
@pytest.mark.parametrize("extra", [None, "web:0", ""])
def test_fault_texts_are_supervisors(code, extra):
    error = sv_xmlrpc.RPCError(code, extra)
    assert (codec.fault(code, extra).faultCode, codec.fault(code, extra).faultString) == (
        error.code,
        error.text,
    )


def test_state_codes_are_supervisors():
    process_states = {
        name: code for name, code in vars(sv_states.ProcessStates).items() if name.isupper()
    }
    assert codec.PROCESS_STATE_CODES == process_states
    daemon_states = {
        name: code for name, code in vars(sv_states.SupervisorStates).items() if name.isupper()
    }
    assert codec.SUPERVISOR_STATE_CODES == daemon_states
    assert codec.state_info("RUNNING") == {"statecode": 1, "statename": "RUNNING"}


# --- decoding -----------------------------------------------------------------------------

scalars = (
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20)
    | st.integers(-(2**31), 2**31 - 1)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text("abcxyz_", min_size=1, max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
method_names = st.sampled_from(["supervisor.getState", "system.multicall", "x.y", "a"])


def supervisors_loads(body: bytes):
    handler = sv_xmlrpc.supervisor_xmlrpc_handler.__new__(sv_xmlrpc.supervisor_xmlrpc_handler)
    params, method = handler.loads(body.decode("utf-8"))
    return method, params if params is not None else ()


@settings(max_examples=300, deadline=None)
@given(params=st.lists(values, max_size=4).map(tuple), method=method_names)
def test_requests_decode_as_supervisord_decodes_them(params, method):
    body = xmlrpc.client.dumps(params, method).encode("utf-8")
    ours = codec.decode_request(body)
    assert ours == (method, params)
    assert ours == supervisors_loads(body)


def test_supervisords_special_cases():
    when = datetime.datetime(2024, 6, 1, 12, 30, 5)
    body = xmlrpc.client.dumps((xmlrpc.client.Binary(b"caf\xc3\xa9"), when), "a.b").encode()
    assert codec.decode_request(body) == ("a.b", ("caf\u00e9", when)) == supervisors_loads(body)
    # No <params> at all: supervisord takes it as no parameters.
    bare = b"<?xml version='1.0'?><methodCall><methodName>a.b</methodName></methodCall>"
    assert codec.decode_request(bare) == ("a.b", ()) == supervisors_loads(bare)
    # A value with no type is a string; an empty one is "".
    untyped = (
        b"<methodCall><methodName>a.b</methodName><params><param><value>text</value></param>"
        b"<param><value></value></param></params></methodCall>"
    )
    assert codec.decode_request(untyped) == ("a.b", ("text", "")) == supervisors_loads(untyped)


def bad(body: bytes, says: str) -> None:
    with pytest.raises(codec.BadRequest) as caught:
        codec.decode_request(body)
    assert says in str(caught.value), str(caught.value)
    assert caught.value.fault.faultCode == codec.INCORRECT_PARAMETERS
    assert caught.value.fault.faultString.startswith("INCORRECT_PARAMETERS: ")
    # The fault encodes into a response a client can read.
    with pytest.raises(xmlrpc.client.Fault):
        xmlrpc.client.loads(codec.encode_fault(caught.value.fault))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<methodCall><methodName>&lol9;</methodName></methodCall>"""


def call_with(value_xml: bytes) -> bytes:
    return (
        b"<methodCall><methodName>a.b</methodName><params><param><value>"
        + value_xml
        + b"</value></param></params></methodCall>"
    )


def test_hostile_requests_get_a_fault():
    bad(BILLION_LAUGHS, "a DOCTYPE is not allowed")
    bad(
        b'<?xml version="1.0"?><!DOCTYPE m SYSTEM "file:///etc/passwd"><methodCall/>',
        "a DOCTYPE is not allowed",
    )
    bad(b"<methodCall><methodName>&xxe;</methodName></methodCall>", "not well-formed XML")
    deep = call_with(b"<array><data><value>" * 10_000 + b"</value></data></array>" * 10_000)
    bad(deep, "nested deeper than 64 elements")
    bad(call_with(b"<int>" + b"9" * 500_000 + b"</int>"), "a <int> of 500000 characters")
    bad(call_with(b"<i8>" + b"1" * 65 + b"</i8>"), "a <i8> of 65 characters")
    bad(call_with(b"<double>" + b"1" * 401 + b"</double>"), "a <double> of 401 characters")
    bad(call_with(b"<int>12x</int>"), "not a valid XML-RPC request")
    bad(call_with(b"<boolean>yes</boolean>"), "not a valid XML-RPC request")
    bad(call_with(b"<dateTime.iso8601>never</dateTime.iso8601>"), "not a valid XML-RPC")
    bad(call_with(b"<base64>/w==</base64>"), "base64 value is not UTF-8 text")
    bad(call_with(b"<unknown>1</unknown>"), "not a valid XML-RPC request")
    bad(b"<methodCall><methodName>a\xff</methodName></methodCall>", "not well-formed XML")
    bad(b"", "not well-formed XML")
    bad(b"<methodCall><methodName>a.b</methodName>", "not well-formed XML")
    bad(b"<methodCall><params/></methodCall>", "no methodName")
    bad(b"<methodResponse><params/></methodResponse>", "expected a methodCall")
    fault_call = xmlrpc.client.dumps(xmlrpc.client.Fault(1, "x"), methodresponse=True).encode()
    fault_call = fault_call.replace(b"methodResponse>", b"methodCall>")
    bad(fault_call, "no methodName")
    # With a name, a stray <fault> is not parameters: none, as supervisord reads it.
    named = fault_call.replace(b"<methodCall>", b"<methodCall><methodName>a.b</methodName>")
    assert codec.decode_request(named) == ("a.b", ()) == supervisors_loads(named)


def test_size_is_refused_before_reading_or_parsing():
    with pytest.raises(codec.BadRequest, match="request of 104857600 bytes is over the limit"):
        codec.check_length(100 * 1024 * 1024)
    codec.check_length(codec.MAX_REQUEST_BYTES)
    padded = call_with(b"<string>" + b"x" * codec.MAX_REQUEST_BYTES + b"</string>")
    bad(padded, "is over the limit of 1048576")


def test_other_encodings_and_entities_that_are_fine():
    latin = "<?xml version='1.0' encoding='ISO-8859-1'?>" + call_with(
        b"<string>caf\xe9</string>"
    ).decode("latin-1")
    assert codec.decode_request(latin.encode("latin-1")) == ("a.b", ("caf\u00e9",))
    assert codec.decode_request(call_with(b"<string>&lt;&#x41;&amp;</string>")) == ("a.b", ("<A&",))


@settings(max_examples=500, deadline=None)
@given(
    junk=st.binary(max_size=200)
    | st.lists(
        st.sampled_from(
            [
                b"<methodCall>",
                b"</methodCall>",
                b"<methodName>a.b</methodName>",
                b"<params>",
                b"</params>",
                b"<param>",
                b"</param>",
                b"<value>",
                b"</value>",
                b"<array>",
                b"<data>",
                b"</data>",
                b"</array>",
                b"<struct>",
                b"</struct>",
                b"<member>",
                b"</member>",
                b"<name>k</name>",
                b"<int>1</int>",
                b"<nil/>",
                b"x",
                b"&amp;",
                b"<string>",
                b"</string>",
                b"<fault>",
                b"</fault>",
                b"<!DOCTYPE x>",
                b"\xff",
            ]
        ),
        max_size=30,
    ).map(b"".join)
)
def test_any_bytes_give_a_request_or_a_bad_request(junk):
    try:
        method, params = codec.decode_request(junk)
    except codec.BadRequest as error:
        assert error.fault.faultCode == codec.INCORRECT_PARAMETERS
    else:
        assert isinstance(method, str) and isinstance(params, tuple)


# --- encoding -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_responses_are_byte_for_byte_supervisors(value):
    assert codec.encode_response(value) == sv_xmlrpc.xmlrpc_marshal(value).encode("utf-8")
    assert xmlrpc.client.loads(codec.encode_response(value))[0] == (value,)


@pytest.mark.parametrize("code", [1, 10, 70, 92])
def test_faults_are_byte_for_byte_supervisors(code):
    error = sv_xmlrpc.RPCError(code, "web:0")
    theirs = sv_xmlrpc.xmlrpc_marshal(xmlrpc.client.Fault(error.code, error.text))
    assert codec.encode_fault(codec.fault(code, "web:0")) == theirs.encode("utf-8")
    assert codec.encode_response(codec.fault(code, "web:0")) == theirs.encode("utf-8")


def test_what_supervisord_cannot_encode_becomes_a_failed_fault():
    for value in (None, [1, None], 2**31, {"offset": 2**40}):
        with pytest.raises(xmlrpc.client.Fault) as caught:
            xmlrpc.client.loads(codec.encode_response(value))
        assert caught.value.faultCode == codec.FAILED
        assert "cannot encode the result" in caught.value.faultString
    assert codec.capped_int(2**40) == 2**31 - 1 == sv_xmlrpc.capped_int(2**40)
    assert codec.capped_int(-(2**40)) == sv_xmlrpc.capped_int(-(2**40))
    assert codec.capped_int(1717000000.9) == sv_xmlrpc.capped_int(1717000000.9)


# --- getProcessInfo -------------------------------------------------------------------------


def supervisors_process_info(record: codec.ProcessRecord, now: float) -> dict:
    process = SimpleNamespace(
        config=SimpleNamespace(
            name=record.name,
            stdout_logfile=record.stdout_logfile,
            stderr_logfile=record.stderr_logfile,
        ),
        laststart=record.start,
        laststop=record.stop,
        spawnerr=record.spawnerr,
        exitstatus=record.exitstatus,
        pid=record.pid,
        get_state=lambda: codec.PROCESS_STATE_CODES[record.state],
    )
    group = SimpleNamespace(config=SimpleNamespace(name=record.group))
    group.processes = {record.name: process}
    supervisord = SimpleNamespace(
        options=SimpleNamespace(mood=sv_states.SupervisorStates.RUNNING),
        process_groups={record.group: group},
    )
    interface = SupervisorNamespaceRPCInterface(supervisord)
    interface._now = lambda: now
    name = record.name if record.name == record.group else f"{record.group}:{record.name}"
    return interface.getProcessInfo(name)


records = st.builds(
    codec.ProcessRecord,
    name=st.sampled_from(["web", "worker_0", "caf\u00e9"]),
    group=st.sampled_from(["web", "workers"]),
    state=st.sampled_from([name for name in codec.PROCESS_STATE_CODES if name != "UNKNOWN"]),
    start=st.sampled_from([0.0, 1_700_000_000.5, 1_700_086_461.0, 3e9]),
    stop=st.sampled_from([0.0, 1_700_000_100.0, 1_700_200_000.25]),
    pid=st.integers(0, 2**22),
    spawnerr=st.sampled_from([None, "", "Exited too quickly (process log may have details)"]),
    exitstatus=st.sampled_from([None, 0, 1, 255]),
    stdout_logfile=st.sampled_from([None, "/var/log/web.log"]),
    stderr_logfile=st.sampled_from([None, "/var/log/web.err"]),
)


@settings(max_examples=300, deadline=None)
@given(record=records, now=st.sampled_from([1_700_000_000.0, 1_700_090_000.7, 1_600_000_000.0]))
def test_process_info_is_supervisors(record, now):
    assert codec.process_info(record, now) == supervisors_process_info(record, now)


def test_process_info_descriptions():
    running = codec.ProcessRecord("web", "web", "RUNNING", start=1000, pid=42)
    assert codec.process_info(running, 1000 + 86400 + 3723)["description"] == (
        "pid 42, uptime 1 day, 1:02:03"
    )
    fatal = codec.ProcessRecord("web", "web", "FATAL")
    assert codec.process_info(fatal, 0)["description"] == 'unknown error (try "tail web")'
    never = codec.ProcessRecord("web", "web", "STOPPED")
    assert codec.process_info(never, 0)["description"] == "Not started"
    stopped = codec.ProcessRecord("web", "web", "EXITED", start=1, stop=1_700_000_000)
    expected = time.strftime("%b %d %I:%M %p", time.localtime(1_700_000_000))
    assert codec.process_info(stopped, 0)["description"] == expected


def test_all_process_info_is_ordered_by_group_then_name():
    rows = [
        codec.ProcessRecord("b_1", "b", "STOPPED"),
        codec.ProcessRecord("z", "a", "STOPPED"),
        codec.ProcessRecord("b_0", "b", "STOPPED"),
    ]
    assert [(i["group"], i["name"]) for i in codec.all_process_info(rows, 0)] == [
        ("a", "z"),
        ("b", "b_0"),
        ("b", "b_1"),
    ]


# --- method names and system.multicall ------------------------------------------------------


class Namespace:
    def getState(self):
        return {"statecode": 1, "statename": "RUNNING"}

    def echo(self, *args):
        return list(args)

    def refuse(self):
        raise sv_xmlrpc.RPCError(sv_xmlrpc.Faults.BAD_NAME, "web:9")

    def crash(self):
        raise ValueError("boom")

    def _private(self):
        return "never"


def our_call(name: str, params: list):
    """What the shell does: split the name, find the handler, turn RPCError into a Fault."""
    namespace, method = codec.split_method(name)
    if namespace != "supervisor" or not hasattr(Namespace, method):
        raise codec.fault(codec.UNKNOWN_METHOD)
    try:
        return getattr(Namespace(), method)(*params)
    except sv_xmlrpc.RPCError as error:
        raise xmlrpc.client.Fault(error.code, error.text) from None


@pytest.mark.parametrize("name", ["supervisor.getState", "a", "a.b.c", "supervisor._private", ""])
def test_method_names_are_routed_as_supervisors_traverse(name):
    try:
        sv_xmlrpc.traverse(SimpleNamespace(supervisor=Namespace()), name, [])
        refused_by_them = False
    except sv_xmlrpc.RPCError as error:
        refused_by_them = error.code == sv_xmlrpc.Faults.UNKNOWN_METHOD
    try:
        codec.split_method(name)
        refused_by_us = False
    except xmlrpc.client.Fault as error:
        refused_by_us = error.faultCode == codec.UNKNOWN_METHOD
    assert refused_by_us == refused_by_them


CALLS = [
    {"methodName": "supervisor.getState"},
    {"methodName": "supervisor.echo", "params": [1, "two"]},
    {"methodName": "supervisor.refuse", "params": []},
    {"methodName": "supervisor.crash"},
    {"params": []},
    {"methodName": "system.multicall", "params": [[]]},
    {"methodName": "supervisor.getState", "params": 5},
    {"methodName": "nope.getState"},
    {"methodName": "supervisor._private"},
    {"methodName": "a.b.c"},
]


@settings(max_examples=200, deadline=None)
@given(calls=st.lists(st.sampled_from(CALLS), max_size=8))
def test_multicall_is_supervisors(calls):
    system = sv_xmlrpc.SystemNamespaceRPCInterface([("supervisor", Namespace())])
    assert codec.run_multicall(calls, our_call) == system.multicall(calls)


def test_multicall_can_wait_for_each_answer():
    run = codec.Multicall([{"methodName": "a.b", "params": [1]}, {}, {"methodName": "c.d"}])
    assert run.next_call() == ("a.b", [1])
    with pytest.raises(RuntimeError):
        run.next_call()
    run.returned(True)  # the answer came later: a parked reply
    assert run.next_call() == ("c.d", [])
    run.raised(codec.fault(codec.NOT_RUNNING, "c"))
    assert run.next_call() is None
    assert run.results == [
        True,
        {"faultCode": 2, "faultString": "INCORRECT_PARAMETERS: No methodName"},
        {"faultCode": 70, "faultString": "NOT_RUNNING: c"},
    ]


@pytest.mark.parametrize("calls", [5, "x", [1], [{"methodName": "a.b"}, "x"], None])
def test_multicall_of_something_else_is_a_fault(calls):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        codec.Multicall(calls)
    assert caught.value.faultCode == codec.INCORRECT_PARAMETERS
