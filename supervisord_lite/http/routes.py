"""What an [http] request means: the page, its assets, /metrics and the JSON API that
mirrors the control protocol, behind the Host, auth, uid and CSRF checks.

The API calls the very handlers the socket does (control/commands.py) through a Caller (caller.py)
that looks to them like a control client, so a parked start/stop reply and the events and
tail -f streams work alike; streams go out as server-sent events.
"""

from __future__ import annotations

import ipaddress
import json
from importlib import resources
from urllib.parse import parse_qs

import h11

from supervisord_lite.base import protocol
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.control.replies import LATER
from supervisord_lite.http.caller import Caller
from supervisord_lite.http.connection import Connection, error, header
from supervisord_lite.http.login import BUSY, OK, PENDING, retry_after

# Commands that change nothing: allowed with read_only and as GET /api/<command>.
READ_COMMANDS = frozenset(("status", "version", "pid", "tail", "metrics"))
STREAMS = frozenset(("events",))  # GET /api/events only (server-sent events)
FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
STATIC = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
HTTP_STATUS = {
    protocol.NO_SUCH_PROCESS: 404,
    protocol.UNKNOWN_COMMAND: 404,
    protocol.BAD_ARGUMENT: 400,
    protocol.BAD_REQUEST: 400,
    protocol.FORBIDDEN: 403,
    protocol.SHUTTING_DOWN: 503,
    protocol.BUSY: 409,
    protocol.CONFIG_ERROR: 422,
    protocol.LOG_ERROR: 500,
    protocol.INTERNAL: 500,
}
PAGE_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class Routes:
    """The request side of HttpServer (a mixin): it reads the server's config, auth,
    allowed_uids, csrf, handlers, supervisor, hosts, assets and request_shutdown."""

    def route(self, conn: Connection) -> None:
        request = conn.request
        if not self._host_allowed(request):
            conn.respond_json(403, error(protocol.FORBIDDEN, "this Host is not served here"))
            return
        authorization = header(request, b"authorization")
        credentials = None if authorization is None else authorization.encode("latin-1")
        # A password is checked in a helper process: the answer may come later.
        verdict = self.auth.check(
            credentials, conn.key, lambda later: self.guarded(conn, self._let_in, later)
        )
        if verdict is not PENDING:
            self._let_in(conn, verdict)

    def _let_in(self, conn: Connection, verdict) -> None:
        """Past auth (`verdict`): the uid rule, then the request itself."""
        if conn.closed:
            return
        kind, wait = verdict
        if kind != OK:
            self._unauthorized(conn, kind, wait)
            return
        if not self.auth.required and conn.peer_uid not in self.allowed_uids():
            who = "an unknown user" if conn.peer_uid is None else f"uid {conn.peer_uid}"
            message = (
                f"{who} may not use this daemon: with no [http] users or token_file, only "
                "root, the daemon's own user and [supervisord] allowed_uids may, as on its "
                "socket"
            )
            conn.respond_json(403, error(protocol.FORBIDDEN, message))
            return
        self.trust(conn)
        method = conn.request.method
        path, _, query = conn.request.target.decode("ascii", "replace").partition("?")
        if method in (b"GET", b"HEAD"):
            self.get(conn, path, parse_qs(query))
        elif method == b"POST" and path.startswith("/api/"):
            self.post(conn, path[len("/api/") :])
        elif method == b"POST":
            conn.respond_json(405, error(protocol.BAD_REQUEST, "POST goes to /api/COMMAND"),
                              [(b"allow", b"GET, HEAD")])  # fmt: skip
        else:
            conn.respond_json(405, error(protocol.BAD_REQUEST, "method not allowed"),
                              [(b"allow", b"GET, HEAD, POST")])  # fmt: skip

    def _host_allowed(self, request: h11.Request) -> bool:
        """On loopback, only loopback names: a page on another site that a DNS
        rebinding points at 127.0.0.1 must not reach us as if same-origin."""
        if not ipaddress.ip_address(self.config.host).is_loopback:
            return True
        host = (header(request, b"host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.startswith("[") and "]" in name:
            name = name[1 : name.index("]")]
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def _unauthorized(self, conn: Connection, verdict: str, wait: float) -> None:
        if verdict == BUSY:
            seconds = retry_after(wait)
            message = (f"wrong credentials were just tried from this client or for this user: "
                       f"try again in {seconds.decode()} s")  # fmt: skip
            conn.respond_json(429, error(protocol.BUSY, message), [(b"retry-after", seconds)])
            return
        challenges = []
        if self.config.users:
            challenges.append((b"www-authenticate",
                               b'Basic realm="supervisord-lite", charset="UTF-8"'))  # fmt: skip
        if self.config.token_sha256 is not None:
            challenges.append((b"www-authenticate", b'Bearer realm="supervisord-lite"'))
        message = "authentication required (a user's password, or the bearer token)"
        conn.respond_json(401, error(protocol.FORBIDDEN, message), challenges)

    # -- GET: never a change ------------------------------------------------------

    def get(self, conn: Connection, path: str, query: dict) -> None:
        if path == "/" or path == "/index.html":
            token = self.csrf.token(_session(conn))
            page = self.asset("index.html").replace(b"{{csrf}}", token.encode())
            read_only = b"true" if self.config.read_only else b"false"
            page = page.replace(b"{{read_only}}", read_only)
            conn.respond(200, b"text/html; charset=utf-8", page,
                         [(b"content-security-policy", PAGE_POLICY)])  # fmt: skip
        elif path.startswith("/static/") and path[len("/static/") :] in STATIC:
            name = path[len("/static/") :]
            conn.respond(200, STATIC[name].encode(), self.asset(name))
        elif path == "/metrics":
            text = self.handlers["metrics"](None, protocol.Request(None, "metrics", {}))
            conn.respond(200, b"text/plain; version=0.0.4; charset=utf-8", text.encode())
        elif path == "/api/csrf":
            token = self.csrf.token(_session(conn))
            conn.respond_json(200, {"csrf": token, "read_only": self.config.read_only})
        elif path == "/api/stats":
            conn.respond_json(200, {"ok": True, "result": self.stats()})
        elif path == "/api/hosts":
            hosts = self.hosts.describe() if self.hosts is not None else []
            conn.respond_json(200, {"ok": True, "result": hosts})
        elif path == "/api/events":
            self.call_streaming(conn, "events", {})
        elif path == "/api/tail":
            self.tail(conn, query)
        elif path.startswith("/api/") and path[len("/api/") :] in READ_COMMANDS:
            cmd = path[len("/api/") :]
            args: dict = {"names": query["names"]} if "names" in query else {}
            args.update({k: v[-1] for k, v in query.items() if k != "names"})
            if "lines" in args and str(args["lines"]).isdigit():
                args["lines"] = int(args["lines"])
            self.call(conn, cmd, args)
        elif path.startswith("/api/") and path[len("/api/") :] in self.handlers:
            message = "a change is a POST with the X-CSRF-Token header (see GET /api/csrf)"
            conn.respond_json(405, error(protocol.BAD_REQUEST, message), [(b"allow", b"POST")])
        else:
            conn.respond_json(404, error(protocol.BAD_REQUEST, f"nothing at {path}"))

    def tail(self, conn: Connection, query: dict) -> None:
        """GET /api/tail: a one-shot read of the last lines (JSON), as the socket's tail;
        with follow=1, what comes next too, as server-sent events (tail -f)."""
        lines = _one(query, "lines") or "100"
        args = {"name": _one(query, "name"), "stream": _one(query, "stream") or "stdout",
                "lines": int(lines) if lines.isdigit() else lines}  # fmt: skip
        follow = (_one(query, "follow") or "0").lower()
        if follow not in FLAGS:
            message = f"follow must be 1 or 0 (true or false), got {follow!r}"
            conn.respond_json(400, error(protocol.BAD_ARGUMENT, message))
        elif FLAGS[follow]:
            self.call_streaming(conn, "tail", dict(args, follow=True))
        else:
            self.call(conn, "tail", args)

    def asset(self, name: str) -> bytes:
        data = self.assets.get(name)
        if data is None:
            data = self.assets[name] = (
                resources.files("supervisord_lite.http.web").joinpath(name).read_bytes()
            )
        return data

    def stats(self) -> dict:
        """CPU seconds and resident bytes of every running process's tree, for the page
        (the figures `status` shows)."""
        out = {}
        reading = self.supervisor.figures.reading()
        for process in self.supervisor.processes.values():
            if process.machine.pid is not None:
                figures = self.supervisor.figures.of(process, reading)
                out[process.name] = [figures["cpu_seconds"], figures["memory_bytes"]]
        return out

    # -- POST: changes, each with the CSRF token ----------------------------------

    def post(self, conn: Connection, cmd: str) -> None:
        request = conn.request
        token = header(request, b"x-csrf-token") or ""
        if not self.csrf.check(_session(conn), token):
            message = (
                "missing or wrong X-CSRF-Token header (the page has it; GET /api/csrf; "
                "it changes with who may come in: reload the page)"
            )
            conn.respond_json(403, error(protocol.FORBIDDEN, message))
            return
        origin = header(request, b"origin")
        if origin is not None and origin.split("://", 1)[-1] != (header(request, b"host") or ""):
            conn.respond_json(403, error(protocol.FORBIDDEN, "cross-origin request refused"))
            return
        if self.config.read_only and cmd not in READ_COMMANDS:
            message = "this page is read-only ([http] read_only = true)"
            conn.respond_json(403, error(protocol.FORBIDDEN, message))
            return
        if cmd in STREAMS:
            conn.respond_json(405, error(protocol.BAD_REQUEST, f"{cmd} is GET /api/{cmd}"),
                              [(b"allow", b"GET")])  # fmt: skip
            return
        try:
            args = json.loads(bytes(conn.body) or b"{}")
        except ValueError as exc:
            conn.respond_json(400, error(protocol.BAD_REQUEST, f"the body is not JSON: {exc}"))
            return
        if not isinstance(args, dict):
            conn.respond_json(400, error(protocol.BAD_REQUEST, "the body must be a JSON object"))
            return
        if cmd.startswith("hosts/"):
            self.call_remote(conn, cmd[len("hosts/") :], args)
            return
        if cmd == "tail" and args.get("follow"):
            message = "tail with follow is GET /api/tail?name=NAME (server-sent events)"
            conn.respond_json(400, error(protocol.BAD_ARGUMENT, message))
            return
        self.call(conn, cmd, args)

    def _run(self, conn: Connection, caller: Caller, cmd: str, args: dict):
        """The handler's immediate result, or LATER; ProtocolError for a refusal."""
        if cmd not in self.handlers:
            raise ProtocolError(protocol.UNKNOWN_COMMAND, f"unknown command {cmd!r}")
        if self.supervisor.shutting_down and cmd not in ("status", "version", "pid"):
            if cmd == "shutdown":
                self.request_shutdown(caller, None)
                return LATER
            raise ProtocolError(protocol.SHUTTING_DOWN, "the daemon is shutting down")
        conn.caller = caller
        return self.handlers[cmd](caller, protocol.Request(None, cmd, args))

    def call(self, conn: Connection, cmd: str, args: dict) -> None:
        """One command, one JSON reply: {"ok": true, "result": ...} or the error."""
        answered = []

        def deliver(result) -> None:
            if answered:
                return
            answered.append(True)
            if isinstance(result, protocol.Raw):
                body = f'{{"ok":true,"result":{result.text}}}'.encode()
                conn.respond(200, b"application/json", body)
            else:
                conn.respond_json(200, {"ok": True, "result": result})

        def refuse(code: str, message: str) -> None:
            if not answered:
                answered.append(True)
                conn.respond_json(HTTP_STATUS.get(code, 400), error(code, message))

        caller = Caller(conn, deliver, refuse)
        try:
            result = self._run(conn, caller, cmd, args)
        except ProtocolError as exc:
            refuse(exc.code, exc.message)
            return
        if result is not LATER:
            deliver(result)

    def call_remote(self, conn: Connection, cmd: str, args: dict) -> None:
        """POST /api/hosts/COMMAND {"host": HOST, ...}: the command on that [http] hosts
        daemon; its reply, or UNREACHABLE (502)."""
        host_text = args.pop("host", None)
        host = None if self.hosts is None else self.hosts.hosts.get(host_text)
        if host is None:
            message = f"no host {host_text!r} in [http] hosts"
            conn.respond_json(404, error(protocol.NO_SUCH_PROCESS, message))
            return
        if cmd in STREAMS or (cmd == "tail" and args.get("follow")):
            message = "streams from other hosts are not served here; use supervisorctl-lite -H"
            conn.respond_json(400, error(protocol.BAD_ARGUMENT, message))
            return

        def done(reply: dict) -> None:
            if conn.closed:
                return
            if reply.get("ok"):
                conn.respond_json(200, {"ok": True, "result": reply.get("result")})
                host.poll()  # the page sees the change without waiting for the next poll
                return
            failure = reply.get("error") or {}
            code, message = failure.get("code", protocol.INTERNAL), failure.get("message", "")
            status = 502 if code == "UNREACHABLE" else HTTP_STATUS.get(code, 400)
            conn.respond_json(status, error(code, message))

        host.request(cmd, args, done)

    def call_streaming(self, conn: Connection, cmd: str, args: dict) -> None:
        """A streaming command as server-sent events: each reply one `data:` line.
        HEAD gets the stream's head only: a response to HEAD can carry no body, so a
        stream opened for it could never be written."""
        if conn.request.method == b"HEAD":
            conn.respond_stream_head()
            return

        def deliver(result) -> None:
            conn.stream_event(protocol.to_json(result))

        def refuse(code: str, message: str) -> None:
            if conn.streaming:
                conn.stream_event(protocol.to_json(error(code, message)), event="error")
                conn.end_stream()
            else:
                conn.respond_json(HTTP_STATUS.get(code, 400), error(code, message))

        caller = Caller(conn, deliver, refuse)
        try:
            self._run(conn, caller, cmd, args)
        except ProtocolError as exc:
            refuse(exc.code, exc.message)


def _session(conn: Connection) -> bytes:
    """What admitted this client, for its CSRF token: the Authorization header it
    sent, or its uid (loopback without auth)."""
    authorization = header(conn.request, b"authorization")
    if authorization is not None and conn.server.auth.required:
        return b"auth:" + authorization.encode("latin-1")
    return f"uid:{conn.peer_uid}".encode()


def _one(query: dict, key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None
