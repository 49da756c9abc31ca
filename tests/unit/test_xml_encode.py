"""supervisor_wire/xml_encode.py writes every methodResponse byte for byte as
xmlrpc.client.dumps(..., methodresponse=True) does (hypothesis), or leaves it to it."""

from __future__ import annotations

import datetime
import xmlrpc.client

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisord_lite.supervisor_wire import xml_encode
from supervisord_lite.supervisor_wire import xmlrpc as wire

TEXT = st.text(alphabet=st.sampled_from("ab<>&;é\n\t ]]>\"'x\u2603"), max_size=12)
SCALARS = TEXT | st.integers(-(2**33), 2**33) | st.booleans() | st.floats(allow_nan=False)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(TEXT, inner, max_size=4)
    ),
    max_leaves=30,
)


def standard(value) -> bytes:
    try:
        return xmlrpc.client.dumps((value,), methodresponse=True).encode("utf-8")
    except OverflowError as error:
        return wire.encode_fault(wire.fault(wire.FAILED, f"cannot encode the result: {error}"))


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_byte_for_byte_as_the_standard_library(value):
    assert wire.encode_response(value) == standard(value)


@pytest.mark.parametrize(
    "value", [None, b"bytes", datetime.datetime(2026, 1, 1), {1: "a"}, [xmlrpc.client.Binary(b"x")]]
)
def test_what_it_does_not_write_goes_to_the_standard_library(value):
    with pytest.raises(xml_encode.Unsupported):
        xml_encode.method_response(value)
    try:
        expected = xmlrpc.client.dumps((value,), methodresponse=True).encode()
    except TypeError as error:
        expected = wire.encode_fault(wire.fault(wire.FAILED, f"cannot encode the result: {error}"))
    assert wire.encode_response(value) == expected


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.integers(-(10**6), 10**9),
    st.sampled_from(["RUNNING", "STOPPED", "EXITED", "FATAL", "BACKOFF", "STARTING", "STOPPING"]),
)
def test_descriptions_are_supervisors(now, age, state):
    """getProcessInfo's description, against supervisord's own _interpretProcessInfo."""
    from supervisor.rpcinterface import SupervisorNamespaceRPCInterface
    from supervisor.states import ProcessStates

    start = max(0, min(2**31 - 1, now - age))
    record = wire.ProcessRecord("web", "web", state, start=start, stop=start, pid=42)
    info = wire.process_info(record, now)
    theirs = dict(info, state=getattr(ProcessStates, state))
    assert info["description"] == SupervisorNamespaceRPCInterface._interpretProcessInfo(
        None, theirs
    )
