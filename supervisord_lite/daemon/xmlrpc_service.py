"""[xmlrpc]'s life in the daemon: bound before detaching (a socket that cannot be had is a
launch error, as supervisord refuses to start without its HTTP server), served from
the loop, changed by reload where no new socket is needed, removed at exit only while
still ours. The http package's XML-RPC modules (and xmlrpc.client) are imported only
when [xmlrpc] is configured.
"""

from __future__ import annotations

import os
import socket

from supervisord_lite.base.log import log
from supervisord_lite.daemon.startup import StartupError, bind_socket


class XmlRpcService:
    def __init__(self, config):
        self.config = config  # the XmlRpcConfig it was bound with
        self.socks: list[socket.socket] = []
        self.inode: tuple[int, int] | None = None  # the Unix socket file's, to remove it
        self.server = None  # http/xmlrpc_server.XmlRpcServer once running

    def bind(self, socket_mode: int) -> None:
        """Claim the socket(s) now, before detaching: StartupError says why not."""
        config = self.config
        if config.path is not None:
            sock, self.inode = bind_socket(config.path, socket_mode)
            self.socks = [sock]
            return
        from supervisord_lite.http.server import bind  # only with a TCP [xmlrpc]

        try:
            self.socks = bind(config)
        except OSError as exc:
            raise StartupError(f"[xmlrpc] cannot listen on {config.listen}: "
                               f"{exc.strerror or exc}") from None  # fmt: skip

    def start(self, loop, supervisor, handlers: dict, allowed_uids) -> None:
        from supervisord_lite.http.xmlrpc_server import XmlRpcServer  # only with [xmlrpc]

        self.server = XmlRpcServer(self.socks, self.config, loop, supervisor, handlers,
                                   allowed_uids)  # fmt: skip

    def on_remote_comm(self, tell) -> None:
        """The event listeners' seam: tell(type, data) at each sendRemoteCommEvent."""
        if self.server is not None:
            self.server.rpc.daemon.remote_comm.append(tell)

    def reload(self, new) -> None:
        """A reload's [xmlrpc]: its settings apply now; a new `listen`, or the table added
        or removed, at the next start of the daemon (as `socket`)."""
        if new is None or new.listen != self.config.listen:
            log.warning("reload: [xmlrpc] listen changed; it takes effect when the daemon "
                        "restarts")  # fmt: skip
            return
        self.config = new
        if self.server is not None:
            self.server.configure(new)

    def close(self) -> None:
        """Stop serving (shutdown): connections and the listening sockets closed, the
        socket file removed while it is still the one we bound."""
        if self.server is not None:
            self.server.close()
            self.server = None
        else:
            for sock in self.socks:
                sock.close()
        self.socks = []
        if self.config.path is not None and self.inode is not None:
            try:
                st = os.stat(self.config.path)
                if (st.st_dev, st.st_ino) == self.inode:
                    os.unlink(self.config.path)
            except OSError:
                pass
            self.inode = None
