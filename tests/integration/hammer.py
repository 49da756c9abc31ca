"""A client hammering an HTTP server during a restart: every request counted as served,
refused (the connect was refused) or failed (reset, cut short, not a 200), and the
longest time between two served requests. Threads, so the test keeps control."""

from __future__ import annotations

import socket
import threading
import time


class Hammer:
    def __init__(self, address, threads: int = 4, timeout: float = 10.0):
        self.address = address  # (host, port) or a unix socket path
        self.threads = threads
        self.timeout = timeout
        self.served = 0
        self.refused = 0
        self.failed: list[str] = []
        self.pids: set[str] = set()
        self.longest_gap = 0.0
        self._last_ok = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> Hammer:
        self._last_ok = time.monotonic()
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout + 5)

    def wait_served(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        start = self.served
        while self.served - start < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"served {self.served - start} of {count}: {self.summary()}")
            time.sleep(0.02)

    def summary(self) -> str:
        return (
            f"served {self.served}, refused {self.refused}, failed {len(self.failed)} "
            f"{self.failed[:5]}, longest gap {self.longest_gap:.3f}s, pids {sorted(self.pids)}"
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            outcome = self.one()
            with self._lock:
                if outcome == "refused":
                    self.refused += 1
                elif outcome.startswith("pid="):
                    self.served += 1
                    self.pids.add(outcome.split()[0])
                    now = time.monotonic()
                    self.longest_gap = max(self.longest_gap, now - self._last_ok)
                    self._last_ok = now
                else:
                    self.failed.append(outcome)

    def one(self) -> str:
        family = socket.AF_UNIX if isinstance(self.address, str) else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                sock.connect(self.address)
            except ConnectionRefusedError:
                return "refused"
            sock.sendall(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            return f"error {exc!r}"
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0] + b" ":
            return f"bad reply {data[:80]!r}"
        return body.decode(errors="replace").strip() or "empty body"
