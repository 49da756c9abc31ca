"""sock_diag: the kernel's record of one TCP socket, asked for by its 4-tuple (real
sockets; skipped where the kernel has no sock_diag)."""

from __future__ import annotations

import errno
import os
import socket
import struct

import pytest

from supervisord_lite.linux import sock_diag

pytestmark = pytest.mark.timeout(30)


def _available() -> bool:
    try:
        sock_diag.find_tcp_socket(socket.AF_INET, "127.0.0.1", 1, "127.0.0.1", 1)
        return True
    except OSError:
        return False


needs_sock_diag = pytest.mark.skipif(not _available(), reason="no sock_diag here")


@needs_sock_diag
@pytest.mark.parametrize("family, host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_a_live_client_is_found_with_its_owner(family, host):
    try:
        server = socket.socket(family)
        server.bind((host, 0))
    except OSError:
        pytest.skip(f"no {host} here")
    with server:
        server.listen(1)
        client = socket.socket(family)
        client.connect(server.getsockname()[:2])
        accepted, peer = server.accept()
        with accepted:
            port = server.getsockname()[1]
            found = sock_diag.find_tcp_socket(family, peer[0], peer[1], host, port)
            assert found is not None and found.state == sock_diag.TCP_ESTABLISHED
            assert found.uid == os.geteuid() and found.inode == os.fstat(client.fileno()).st_ino
            client.close()  # now an orphan: no process owns it
            gone = sock_diag.find_tcp_socket(family, peer[0], peer[1], host, port)
            assert gone is None or gone.inode == 0


@needs_sock_diag
def test_no_such_socket_is_none():
    assert sock_diag.find_tcp_socket(socket.AF_INET, "127.0.0.1", 1, "127.0.0.1", 1) is None


def test_a_kernel_error_is_an_oserror():
    header = struct.pack("=IHHII", 20, sock_diag.NLMSG_ERROR, 0, 1, 0)
    with pytest.raises(OSError) as caught:
        sock_diag._parse(header + struct.pack("=i", -errno.EPERM))
    assert caught.value.errno == errno.EPERM
    with pytest.raises(OSError):
        sock_diag._parse(b"short")
