"""cjson (the C scanner and encoder without the json package) writes and reads exactly
what json does, errors included."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import sysconfig

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisord_lite.base import cjson

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(blacklist_categories=("Cs",)))
    | st.text()  # lone surrogates too
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers() | st.booleans(), inner, max_size=4)
    ),
    max_leaves=20,
)


def same(a, b) -> bool:
    """Equal, NaN included."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b and type(a) is type(b)


@settings(max_examples=400, deadline=None)
@given(values, st.booleans(), st.booleans())
def test_encoder_writes_what_json_writes(value, ensure_ascii, allow_nan):
    for separators in ((",", ":"), (", ", ": ")):
        ours = cjson.encoder(separators, ensure_ascii=ensure_ascii, allow_nan=allow_nan)
        theirs = json.JSONEncoder(
            separators=separators, ensure_ascii=ensure_ascii, allow_nan=allow_nan
        ).encode
        try:
            want = theirs(value)
        except ValueError as exc:  # NaN with allow_nan=False
            with pytest.raises(ValueError, match=str(exc)):
                ours(value)
        else:
            assert ours(value) == want
    assert cjson.indented(value) == json.dumps(value, indent=2)


@settings(max_examples=400, deadline=None)
@given(values, st.sampled_from(["", " ", "\n\t ", "\r"]))
def test_loads_reads_what_json_reads(value, space):
    text = space + json.dumps(value) + space
    assert same(cjson.loads(text), json.loads(text))
    plain = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert same(cjson.loads(plain.encode()), json.loads(plain.encode()))


@pytest.mark.parametrize(
    "text", ["", "  ", "{", '{"a":1}x', '{"a":1} {}', "[1,]", "nul", '"\\x"', "[1 2]", '"a\x01"']
)
def test_errors_are_json_s(text):
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as ours:
        cjson.loads(text)
    assert str(ours.value) == str(theirs.value)


def test_refused_constants_and_unencodable_objects():
    def refuse(name):
        raise ValueError(f"{name} is not a JSON number")

    with pytest.raises(ValueError, match="NaN is not a JSON number"):
        cjson.loads('{"id": NaN}', parse_constant=refuse)
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        cjson.encoder((",", ":"), ensure_ascii=False, allow_nan=False)({1})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        cjson.encoder((",", ":"), ensure_ascii=False, allow_nan=False)(loop)


def test_the_ctl_imports_no_json_package():
    # -S: without site, whose .pth files (an editable install's finder) import re
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        f"import sys; sys.path.insert(0, {root!r}); import supervisord_lite.ctl.main; "
        "print('json' in sys.modules, 're' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out


def test_the_daemon_imports_neither_json_nor_urllib_nor_logging():
    # Each stays resident in the daemon: json ~0.1 MiB, urllib.parse with ipaddress ~0.4,
    # logging with threading ~1 MiB (base/log.py is the daemon's logger)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # -S keeps the .pth files' own imports out; site-packages stays on the path for
    # tomli (Python < 3.11), after the tree itself
    purelib = sysconfig.get_paths()["purelib"]
    code = (
        f"import sys; sys.path.insert(0, {root!r}); sys.path.append({purelib!r})\n"
        "import supervisord_lite.daemon.cli, supervisord_lite.daemon.running\n"
        "unwanted = {'json', 'urllib.parse', 'ipaddress', 'logging', 'threading'}\n"
        "print(sorted(unwanted & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["[]"], out


def test_errors_inside_a_value_are_json_errors_before_json_is_loaded():
    """_json raises JSONDecodeError from inside an object or array only once json.decoder
    is loaded; the daemon never loads it, so a truncated request must still be a
    JSONDecodeError (BAD_REQUEST), not a SystemError (INTERNAL). A fresh interpreter."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from supervisord_lite.base import cjson\n"
        'for text in (\'{"id": 1, "cmd": "status"\\n\', \'{"a" 1}\', \'[1,]\', \'{"a":1\'):\n'
        "    try:\n"
        "        cjson.loads(text)\n"
        "    except Exception as exc:\n"
        "        print(type(exc).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["JSONDecodeError"] * 4, out
