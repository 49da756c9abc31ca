"""The [http] listener's life, apart from the daemon's: supervision never depends on it.

Its port is bound before the daemon detaches, as the control socket is; when that fails
(another user holds the port first) the programs start all the same, the failure is
logged and shown by `version`, and binding is tried again on a timer (1 s, 2 s, 4 s …
60 s), a timer that exists only while it fails, so a healthy daemon still wakes 0 times
when idle. Reload starts it (a table added), stops it (removed: listener and
connections closed) and moves it (a new `listen`); other changes (users, token,
read_only, TLS files, limits, hosts) apply to the running server. Imported only when
[http] is configured.
"""

from __future__ import annotations

import socket

from supervisord_lite.base.log import log
from supervisord_lite.config.http import HttpConfig
from supervisord_lite.http.server import HttpServer, bind
from supervisord_lite.linux.loop import EventLoop, Timer, now

RETRY_FIRST = 1.0  # seconds before the first retry of a failed bind; doubled each time
RETRY_MAX = 60.0


def try_bind(config: HttpConfig) -> tuple[list[socket.socket], str | None]:
    """(the listening sockets, None), or ([], why not). A loopback listen is two sockets
    (127.0.0.1 and ::1, http_server.bind): either failing is a failure of both, retried
    as one."""
    try:
        return bind(config), None
    except OSError as exc:
        return [], f"cannot listen on {config.listen}: {exc.strerror or exc}"


class HttpListener:
    """Serving [http], or failing to bind and trying again; `describe` says which."""

    def __init__(self, loop: EventLoop, supervisor, control, request_shutdown):
        self.loop = loop
        self.supervisor = supervisor
        self.control = control  # control.ControlServer: its handlers and allowed uids
        self.request_shutdown = request_shutdown
        self.config: HttpConfig | None = None
        self.server: HttpServer | None = None
        self.error: str | None = None  # why the port could not be bound, while it cannot
        self.retries = 0
        self._timer: Timer | None = None
        self._delay = RETRY_FIRST

    def apply(self, config: HttpConfig, bound: tuple | None = None) -> None:
        """Serve `config`: at start-up on `bound`, try_bind's answer before detaching;
        at a reload, bound here when [http] is new or `listen` moved, else the running
        server takes the new settings (stop() is for a removed table)."""
        old, self.config = self.config, config
        if old is not None and (old.host, old.port) == (config.host, config.port):
            if self.server is not None:
                self.server.configure(config)
            return  # a listener still failing tries the new settings at its next retry
        if old is not None:
            self._close(f"moving to {config.listen}")
        socks, error = bound or try_bind(config)
        if socks:
            self._serve(socks)
        else:
            self._failed(error or "cannot listen")

    def stop(self, why: str) -> None:
        """Stop serving for good: the listener and every connection are closed."""
        self._close(why)
        self.config = None

    def launch_warnings(self) -> list[str]:
        """What the launching command prints although the daemon is up."""
        if self.error is None:
            return []
        return [f"[http] {self.error}; the programs run, and the daemon tries again in the "
                "background (supervisorctl-lite version shows how it goes)"]  # fmt: skip

    def describe(self) -> dict:
        """What `version` shows of [http]: where, whether it serves, why not."""
        config = self.config
        if config is None:
            return {"serving": False, "error": "stopped"}
        info = {"listen": config.listen, "tls": config.tls, "serving": self.server is not None,
                "error": self.error}  # fmt: skip
        if self._timer is not None:
            info["retry_in"] = round(max(0.0, self._timer.when - now()), 1)
            info["retries"] = self.retries
        return info

    # -- failing and retrying -------------------------------------------------------

    def _serve(self, socks: list[socket.socket]) -> None:
        self._cancel_retry()
        if self.error is not None:
            log.warning("http: %s can be bound now (after %d retries)", self.config.listen,
                        self.retries)  # fmt: skip
        self.error, self.retries, self._delay = None, 0, RETRY_FIRST
        control = self.control
        self.server = HttpServer(socks, self.config, self.loop, self.supervisor, control.handlers,
                                 self.request_shutdown, lambda: control.allowed_uids)  # fmt: skip

    def _failed(self, error: str) -> None:
        if error != self.error:
            # Once per distinct reason: a port held for a day must not fill the log.
            log.error("http: %s; the programs run regardless, and the daemon tries again in "
                      "%g s, then less and less often (every %g s at most)", error,
                      self._delay, RETRY_MAX)  # fmt: skip
        self.error = error
        self._timer = self.loop.call_later(self._delay, self._retry)
        self._delay = min(self._delay * 2, RETRY_MAX)

    def _retry(self) -> None:
        self._timer = None
        if self.config is None:
            return
        self.retries += 1
        socks, error = try_bind(self.config)
        if socks:
            self._serve(socks)
        else:
            self._failed(error or "cannot listen")

    def _cancel_retry(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self, why: str) -> None:
        self._cancel_retry()
        if self.server is not None:
            self.server.close()
            log.info("http: stopped serving %s: %s", self.server.config.listen, why)
            self.server = None
        self.error, self.retries, self._delay = None, 0, RETRY_FIRST
