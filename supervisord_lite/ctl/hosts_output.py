"""supervisorctl-lite -H/--hosts: how the hosts' output is shown, in the order the hosts
were given (hosts.py runs them):

- text: a block per host, `== HOST ==` then the command's output; the host's errors
  go to stderr, tagged with the host;
- --json: one object {HOST: what the command prints with --json, or its error};
- streaming commands: every line as it comes, prefixed `HOST | ` (--json: one object a
  line, {"host": HOST, "result": …}).
"""

from __future__ import annotations

import json
import sys
from typing import Protocol

from supervisord_lite.base.ssh import Target

PREFIX = "supervisorctl-lite: "


class Worker(Protocol):
    """What an output sees of one host's run (ctl_hosts.Worker)."""

    target: Target
    out: bytearray
    err: bytearray
    code: int | None


def _tagged(host: str, line: str) -> str:
    """A host's error line, saying which host: `supervisorctl-lite: HOST: …`."""
    if line.startswith(PREFIX):
        return f"{PREFIX}{host}: {line[len(PREFIX) :]}"
    return f"{host}: {line}"


class Output:
    def data(self, worker: Worker, is_err: bool) -> None:
        """More bytes arrived in worker.out or worker.err."""

    def finished(self, worker: Worker) -> None:
        """The worker exited, every byte read."""

    def interrupted(self) -> None:
        self.close()

    def close(self) -> None:
        """Every worker finished."""


class BlockOutput(Output):
    """A block per host, in the order given, each printed once it and those before it
    have finished."""

    def __init__(self, targets: list[Target]):
        self.order = [t.text for t in targets]
        self.done: dict[str, Worker] = {}
        self.printed = 0

    def finished(self, worker: Worker) -> None:
        self.done[worker.target.text] = worker
        while self.printed < len(self.order) and self.order[self.printed] in self.done:
            self._print_block(self.done[self.order[self.printed]])
            self.printed += 1

    def interrupted(self) -> None:
        """The hosts that did finish, even behind one that did not (which has nothing
        complete to show)."""
        for host in self.order[self.printed :]:
            if host in self.done:
                self._print_block(self.done[host])
                self.printed += 1

    def _print_block(self, worker: Worker) -> None:
        host = worker.target.text
        out = bytes(worker.out)
        header = f"{'' if self.printed == 0 else chr(10)}== {host} ==\n"
        sys.stdout.buffer.write(header.encode() + out)
        if out and not out.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
        for line in worker.err.decode(errors="replace").splitlines():
            print(_tagged(host, line), file=sys.stderr)
        sys.stderr.flush()


class JsonOutput(Output):
    """{HOST: result-or-error}, once every host has answered."""

    def __init__(self, targets: list[Target]):
        self.order = [t.text for t in targets]
        self.results: dict[str, object] = {}

    def finished(self, worker: Worker) -> None:
        host = worker.target.text
        self.results[host] = _json_result(worker)
        for line in worker.err.decode(errors="replace").splitlines():
            print(_tagged(host, line), file=sys.stderr)

    def close(self) -> None:
        ordered = {host: self.results[host] for host in self.order if host in self.results}
        print(json.dumps(ordered, indent=2), flush=True)


def _json_result(worker: Worker) -> object:
    text = worker.out.decode(errors="replace").strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    message = worker.err.decode(errors="replace").strip()
    if message.startswith(PREFIX):
        message = message[len(PREFIX) :]
    return {"code": "FAILED", "message": message or f"exit {worker.code}"}


class StreamOutput(Output):
    """Streaming commands: each complete line as it comes, prefixed with its host."""

    def __init__(self, args):
        self.json = args.json
        self.used = {}  # bytes of each buffer already written

    def data(self, worker: Worker, is_err: bool) -> None:
        self._lines(worker, is_err, final=False)

    def finished(self, worker: Worker) -> None:
        self._lines(worker, False, final=True)
        self._lines(worker, True, final=True)

    def _lines(self, worker: Worker, is_err: bool, final: bool) -> None:
        buf = worker.err if is_err else worker.out
        key = (id(worker), is_err)
        start = self.used.get(key, 0)
        end = len(buf) if final else buf.rfind(b"\n", start) + 1
        if end <= start:
            return
        self.used[key] = end
        host = worker.target.text
        for raw in bytes(buf[start:end]).decode(errors="replace").splitlines():
            if is_err:
                print(_tagged(host, raw), file=sys.stderr, flush=True)
            elif self.json:
                print(json.dumps({"host": host, "result": _maybe_json(raw)}), flush=True)
            else:
                print(f"{host} | {raw}", flush=True)


def _maybe_json(line: str) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return line
