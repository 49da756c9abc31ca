"""The kernel's own record of one TCP socket, asked for by its exact 4-tuple.

Linux answers "who owns the socket SRC:SPORT -> DST:DPORT" through the sock_diag
netlink family (NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY without NLM_F_DUMP; see
sock_diag(7)): one request, one hash lookup in the kernel, one reply. That is what `ss`
uses, and unlike reading /proc/net/tcp it costs the same on a host with ten sockets or
a million, and it names exactly one socket.

Only the standard library: `socket` for AF_NETLINK, `struct` for the C layouts of
<linux/netlink.h> and <linux/inet_diag.h>.
"""

from __future__ import annotations

import errno
import socket
import struct

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x01
NLMSG_ERROR = 2
INET_DIAG_NOCOOKIE = 0xFFFFFFFF  # both halves: "any socket with this 4-tuple"
ALL_STATES = 0xFFFFFFFF

# struct nlmsghdr: len, type, flags, seq, pid (native byte order)
_NLMSG = struct.Struct("=IHHII")
# struct inet_diag_req_v2 head: family, protocol, ext, pad, states
_REQ = struct.Struct("=BBBBI")
# struct inet_diag_sockid: sport, dport, src[16], dst[16] in network order, then
# if, cookie[2] in native order
_SOCKID_ADDR = struct.Struct("!HH16s16s")
_SOCKID_REST = struct.Struct("=III")
# struct inet_diag_msg: family, state, timer, retrans, sockid (48 bytes), expires,
# rqueue, wqueue, uid, inode
_MSG = struct.Struct("=BBBB48xIIIII")
_ERR = struct.Struct("=i")

# TCP states as the kernel numbers them (include/net/tcp_states.h)
TCP_ESTABLISHED = 1
TCP_SYN_SENT = 2
TCP_FIN_WAIT1 = 4
TCP_FIN_WAIT2 = 5
TCP_CLOSE_WAIT = 8


class TcpSocket:
    """What the kernel says of one socket: its state, owner's uid and inode (0 when
    no process holds it any more: an orphan, or a TIME_WAIT leftover)."""

    __slots__ = ("family", "state", "uid", "inode")

    def __init__(self, family: int, state: int, uid: int, inode: int):
        self.family, self.state, self.uid, self.inode = family, state, uid, inode

    def __repr__(self) -> str:
        return f"TcpSocket(state={self.state}, uid={self.uid}, inode={self.inode})"


def find_tcp_socket(
    family: int, src: str, sport: int, dst: str, dport: int, *, timeout: float = 1.0
) -> TcpSocket | None:
    """The TCP socket whose local end is src:sport and remote end dst:dport, or None
    when there is none. Raises OSError when the kernel cannot be asked (no sock_diag:
    a kernel without inet_diag, a seccomp filter, no descriptor left)."""
    request = _request(family, src, sport, dst, dport)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        # The kernel answers within sendmsg itself: the reply is queued before send()
        # returns, so the timeout only guards against a kernel that never answers.
        nl.settimeout(timeout)
        nl.send(request)
        reply = nl.recv(4096)
    return _parse(reply)


def _request(family: int, src: str, sport: int, dst: str, dport: int) -> bytes:
    sockid = _SOCKID_ADDR.pack(
        sport, dport, _address(family, src), _address(family, dst)
    ) + _SOCKID_REST.pack(0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    body = _REQ.pack(family, socket.IPPROTO_TCP, 0, 0, ALL_STATES) + sockid
    header = _NLMSG.pack(_NLMSG.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    return header + body


def _address(family: int, text: str) -> bytes:
    return socket.inet_pton(family, text).ljust(16, b"\0")


def _parse(reply: bytes) -> TcpSocket | None:
    if len(reply) < _NLMSG.size:
        raise OSError(errno.EPROTO, "sock_diag: a short reply")
    length, kind, _, _, _ = _NLMSG.unpack_from(reply)
    if kind == NLMSG_ERROR:
        code = -_ERR.unpack_from(reply, _NLMSG.size)[0] if length >= _NLMSG.size + 4 else 0
        if code == errno.ENOENT:
            return None  # no such socket
        raise OSError(code or errno.EPROTO, f"sock_diag: {errno.errorcode.get(code, code)}")
    if kind != SOCK_DIAG_BY_FAMILY or len(reply) < _NLMSG.size + _MSG.size:
        raise OSError(errno.EPROTO, f"sock_diag: an unexpected reply (type {kind})")
    family, state, _, _, _, _, _, uid, inode = _MSG.unpack_from(reply, _NLMSG.size)
    return TcpSocket(family, state, uid, inode)
