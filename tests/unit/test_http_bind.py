"""http_server.bind(): a loopback listen takes 127.0.0.1 and ::1 both, says why not
when it cannot, and never serves half of it silently."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

from supervisord_lite.config.http import HttpConfig
from supervisord_lite.http.server import bind

pytestmark = pytest.mark.timeout(30)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1 here")
def test_a_taken_ipv6_loopback_port_is_an_error_naming_it():
    squatter = socket.socket(socket.AF_INET6)
    squatter.bind(("::1", 0))
    squatter.listen(1)
    port = squatter.getsockname()[1]
    try:
        with pytest.raises(OSError) as caught:
            bind(HttpConfig("127.0.0.1", port))
        assert f"[::1]:{port}" in caught.value.strerror
        # and 127.0.0.1 was let go again: nothing half-bound is left behind
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    finally:
        squatter.close()


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None,
    reason="needs root, unshare and ip (a network namespace without IPv6)",
)
def test_a_host_without_ipv6_serves_127_0_0_1_and_says_so():
    code = textwrap.dedent("""
        from supervisord_lite.config.http import HttpConfig
        from supervisord_lite.http.server import bind
        socks = bind(HttpConfig("127.0.0.1", 9001))
        print("listening:", [s.getsockname()[0] for s in socks])
    """)
    script = (
        "ip link set lo up && echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 && "
        f'exec {sys.executable} -c "$0"'
    )
    res = subprocess.run(["unshare", "-n", "sh", "-c", script, code], capture_output=True,
                         text=True, timeout=20)  # fmt: skip
    if res.returncode != 0 and "unshare" in res.stderr:
        pytest.skip(f"cannot make a network namespace: {res.stderr.strip()}")
    assert res.returncode == 0, res.stderr
    assert "listening: ['127.0.0.1']" in res.stdout
    # before the daemon's log is set up, its warnings go to stderr
    assert "cannot listen on [::1]:9001 too" in res.stderr, res.stderr
    assert "serving 127.0.0.1:9001 only" in res.stderr
