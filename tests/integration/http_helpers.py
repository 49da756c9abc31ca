"""Starting a test daemon with an [http] table, and small raw-socket clients for it."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from integration.harness import free_port


def start_http(daemon, programs: dict, http: str = "", groups: dict | None = None,
               supervisord: dict | None = None) -> int:  # fmt: skip
    """Start `daemon` with `programs` and [http] listening on a free loopback port
    (plus the `http` TOML lines); return the port."""
    port = free_port()
    daemon.write_config(programs, supervisord, groups)
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[http]\nlisten = "127.0.0.1:{port}"\n{http}\n')
    daemon.start()
    return port


def request(port: int, method: str, path: str, body: Any = None, headers: dict | None = None,
            timeout: float = 10.0) -> tuple[int, dict, bytes]:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        res = conn.getresponse()
        headers: dict[str, str] = {}
        for key, value in res.getheaders():  # repeated ones joined, as RFC 9110 allows
            key = key.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return res.status, headers, res.read()
    finally:
        conn.close()


def csrf(port: int, headers: dict | None = None) -> str:
    status, _, body = request(port, "GET", "/api/csrf", headers=headers)
    assert status == 200, body
    return json.loads(body)["csrf"]


def post(port: int, cmd: str, args: dict, headers: dict | None = None) -> tuple[int, dict]:
    all_headers = {"X-CSRF-Token": csrf(port, headers), "Content-Type": "application/json"}
    all_headers.update(headers or {})
    status, _, body = request(port, "POST", f"/api/{cmd}", args, all_headers)
    return status, json.loads(body)


def raw(port: int, data: bytes, timeout: float = 5.0, read_until_close: bool = True) -> bytes:
    """Send raw bytes; what comes back until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not read_until_close:
                break
        return b"".join(chunks)


class EventStream:
    """A GET of a server-sent-events URL, read one `data:` item at a time."""

    def __init__(self, port: int, path: str, timeout: float = 10.0):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream"})
        self.res = self.conn.getresponse()

    def next(self) -> tuple[str | None, Any]:
        """(event name or None, the decoded data) of the next event."""
        event, data = None, []
        while True:
            line = self.res.readline()
            if not line:
                raise EOFError("the stream ended")
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
            elif not line and data:
                return event, json.loads("\n".join(data))

    def close(self) -> None:
        self.conn.close()
