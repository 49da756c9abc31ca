"""[alerts] through the real daemon: a real local HTTP server records what the webhook
posts, a real command gets the batch on stdin, and targets that fail (refused, silent,
hanging, missing) are logged while supervision goes on."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integration.harness import free_port, helper

pytestmark = pytest.mark.timeout(40)


class Recorder:
    """A local HTTP server (in this test process) keeping every POST it receives."""

    def __init__(self, status: int = 200, tls: tuple[str, str] | None = None):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    servers = []

    def make(**kw) -> Recorder:
        servers.append(Recorder(**kw))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def crasher(**extra) -> dict:
    """RUNNING at once, then an unexpected exit (3): a crash, no restart."""
    return {"command": ["sh", "-c", "sleep 0.3; exit 3"], "startsecs": 0,
            "autorestart": False, **extra}  # fmt: skip


def never_starts() -> dict:
    """Dies before startsecs, no retries: FATAL."""
    return {"command": ["sh", "-c", "exit 1"], "startsecs": 1, "startretries": 0}


def test_webhook_gets_one_batch_with_text_and_every_alert(daemon, recorder):
    server = recorder()
    url = f"http://localhost:{server.port}/hooks/T000/B000"  # a name: looked up by getent
    programs = {"a": crasher(), "b": never_starts(), "fine": {"command": ["sleep", "300"]}}
    daemon.write_config(programs, groups={"g": {"programs": ["a"]}})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[alerts]\nwebhook = "{url}"\nbatch = 1.0\n')
    daemon.start()
    daemon.wait_until(lambda: server.received, 10, message="a webhook POST")
    path, headers, body = server.received[0]
    assert path == "/hooks/T000/B000" and headers["Content-Type"] == "application/json"
    kinds = {(a["process"], a["kind"]) for a in body["alerts"]}
    assert kinds == {("g:a", "crashed"), ("b", "fatal")}, body  # one batch holds both
    assert body["text"].startswith("supervisord-lite on ") and "g:a crashed: " in body["text"]
    crash = next(a for a in body["alerts"] if a["kind"] == "crashed")
    assert crash["exitstatus"] == 3 and crash["group"] == "g"
    daemon.wait_until(lambda: "alerts: 2 alerts posted to" in daemon.logfile.read_text(), 5)
    assert len(server.received) == 1


def test_exec_gets_the_batch_on_stdin(daemon):
    out = daemon.path("alerts.json")
    daemon.write_config({"b": never_starts()})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[alerts]\nexec = ["sh", "-c", "cat > {out}"]\nbatch = 0\non = ["fatal"]\n')
    daemon.start()
    daemon.wait_until(lambda: out.exists() and out.read_text().endswith("}"), 10)
    body = json.loads(out.read_text())
    assert [a["kind"] for a in body["alerts"]] == ["fatal"]
    daemon.wait_until(lambda: "alerts: 1 alerts given to sh" in daemon.logfile.read_text(), 5)


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (
            "webhook = 'http://127.0.0.1:{closed}/'",
            "webhook http://127.0.0.1:{closed} failed: connect: Connection refused",
        ),
        ("webhook = 'http://127.0.0.1:{silent}/'", "failed: no answer in 1 s"),
        ("webhook = 'http://no-such-host.invalid/'", "cannot resolve host 'no-such-host.invalid'"),
        ("exec = ['/no/such/alert-command']", "exec /no/such/alert-command failed: No such file"),
        ("exec = ['sleep', '60']", "exec sleep still running after 1 s: killed"),
        ("exec = ['sh', '-c', 'exit 7']", "exec sh exited with 7"),
    ],
)
def test_a_failing_target_is_logged_and_supervision_goes_on(daemon, target, logged):
    closed = free_port()
    silent = socket.socket()  # accepts (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    ports = {"closed": closed, "silent": silent.getsockname()[1]}
    try:
        daemon.write_config({"b": never_starts(), "up": {"command": ["sleep", "300"]}})
        with open(daemon.config, "a") as fh:
            fh.write(f"\n[alerts]\n{target.format(**ports)}\nbatch = 0\ntimeout = 1\n")
        daemon.start()
        daemon.wait_until(lambda: logged.format(**ports) in daemon.logfile.read_text(), 10)
        daemon.ctl_ok("restart", "up")  # the daemon still answers and acts
        assert daemon.status()["up"]["state"] == "RUNNING"
    finally:
        silent.close()


def test_rate_limit_holds_the_second_batch(daemon, recorder):
    server = recorder()
    daemon.write_config({"a": crasher(), "b": crasher(autostart=False)})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[alerts]\nwebhook = "http://127.0.0.1:{server.port}/"\nbatch = 0\n'
                 "rate_limit = 1\n")  # fmt: skip
    daemon.start()
    daemon.wait_until(lambda: len(server.received) == 1, 10)
    daemon.ctl_ok("start", "b")
    daemon.wait_state("b", "EXITED")
    # Held for the rest of the hour, and the log says so (issue 22.7).
    held = "alerts: rate_limit of 1 batches an hour reached: 1 alerts held until "
    daemon.wait_until(lambda: held in daemon.logfile.read_text(), 5, message="the hold logged")
    with pytest.raises(AssertionError):
        daemon.wait_until(lambda: len(server.received) > 1, 1.5)


def test_a_relative_exec_runs_from_the_config_files_folder(daemon):
    """The daemon runs in /, yet `./page.sh` means the script beside the config, as every
    relative path in the config does (issue 22.7)."""
    out = daemon.path("alerts.json")
    script = daemon.path("page.sh")
    script.write_text(f"#!/bin/sh\ncat > {out}\n")
    script.chmod(0o755)
    daemon.write_config({"b": never_starts()})
    with open(daemon.config, "a") as fh:
        fh.write('\n[alerts]\nexec = ["./page.sh"]\nbatch = 0\n')
    daemon.start()
    daemon.wait_until(lambda: out.exists() and out.read_text().endswith("}"), 10)
    assert json.loads(out.read_text())["alerts"][0]["kind"] == "fatal"
    assert f"alerts: 1 alerts given to {script}" in daemon.logfile.read_text()


def test_a_failed_delivery_does_not_spend_the_rate_limit(daemon, recorder):
    """A broken target must not use up the hour: once it is fixed, the next alert goes
    out at once (issue 22.7)."""
    server = recorder()
    daemon.write_config({"b": never_starts()})
    base = daemon.config.read_text()
    broken = f'\n[alerts]\nwebhook = "http://127.0.0.1:{free_port()}/"\nbatch = 0\nrate_limit = 1\n'
    daemon.config.write_text(base + broken)
    daemon.start()
    daemon.wait_until(lambda: "failed: connect: Connection refused" in daemon.log_tail(), 10)
    fixed = f'\n[alerts]\nwebhook = "http://127.0.0.1:{server.port}/"\nbatch = 0\nrate_limit = 1\n'
    daemon.config.write_text(base + fixed)
    daemon.ctl_ok("reload")
    daemon.ctl("start", "b")  # FATAL again: the next alert
    daemon.wait_until(lambda: server.received, 10, message="the alert after the fix")
    assert server.received[0][2]["alerts"][0]["kind"] == "fatal"
    logged = "no target took the batch of 1 alerts; it does not count against rate_limit"
    assert logged in daemon.logfile.read_text()


def self_signed(tmp_path) -> tuple[str, str]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    return str(cert), str(key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize("trusted", [True, False])
def test_https_webhook_checks_the_certificate(daemon, recorder, tmp_path, trusted):
    cert, key = self_signed(tmp_path)
    server = recorder(tls=(cert, key))
    if trusted:  # OpenSSL's default verify paths take this CA file
        daemon.env["SSL_CERT_FILE"] = cert
    daemon.write_config({"b": never_starts()})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[alerts]\nwebhook = "https://localhost:{server.port}/"\nbatch = 0\n')
    daemon.start()
    if trusted:  # the handshake, request and answer all ran on the loop
        daemon.wait_until(lambda: server.received, 10, message="a POST over TLS")
        assert server.received[0][2]["alerts"][0]["kind"] == "fatal"
    else:  # a certificate nobody vouches for is refused, as any client refuses it
        daemon.wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in daemon.logfile.read_text(), 10)
        assert server.received == []


def test_health_and_memory_notices_are_alerts(daemon):
    """unhealthy and memory_limit come from notices (supervisor.notice), not state
    changes: they reach the alert targets too."""
    out = daemon.path("alerts.json")
    closed = free_port()
    programs = {
        "hog": {"command": helper("hog", "--mb", 80), "startsecs": 0, "memory_limit": "40MB",
                "memory_check_interval": 0.2},  # fmt: skip
        "sick": {"command": ["sleep", "300"], "startsecs": 0,
                 "health": {"tcp": f"127.0.0.1:{closed}", "interval": 0.2, "failures": 2}},
    }  # fmt: skip
    daemon.write_config(programs)
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[alerts]\nexec = ["sh", "-c", "cat >> {out}; echo >> {out}"]\nbatch = 1\n'
                 'on = ["unhealthy", "memory_limit"]\n')  # fmt: skip

    def kinds() -> set:
        if not out.exists():
            return set()
        lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        return {(a["process"], a["kind"]) for batch in lines for a in batch["alerts"]}

    daemon.start()
    daemon.wait_until(lambda: {("hog", "memory_limit"), ("sick", "unhealthy")} <= kinds(), 15)


SECRET = "T0SECRET/B0SECRET/XXSECRETXX"


def test_the_daemon_log_never_shows_the_webhooks_secret(daemon, recorder):
    """A chat webhook's path is its credential and the daemon log is read by more people
    than the config: deliveries, failures, answers and config errors show scheme and
    host only (issue 21.10)."""
    ok, refused = recorder(), recorder(status=500)
    closed = free_port()
    urls = [
        f"http://user:pw-SECRET@127.0.0.1:{ok.port}/services/{SECRET}?token=q-SECRET",
        f"http://127.0.0.1:{refused.port}/services/{SECRET}",
        f"http://127.0.0.1:{closed}/services/{SECRET}",
    ]
    daemon.write_config({"b": never_starts()})
    base = daemon.config.read_text()
    daemon.config.write_text(base + f'\n[alerts]\nwebhook = "{urls[0]}"\nbatch = 0\n')
    daemon.start()
    daemon.wait_until(lambda: ok.received, 10, message="a POST")
    assert ok.received[0][0] == f"/services/{SECRET}?token=q-SECRET"  # sent whole, of course
    logged = f"1 alerts posted to http://127.0.0.1:{ok.port} (200)"
    daemon.wait_until(lambda: logged in daemon.logfile.read_text(), 5)
    for url, line in [
        (urls[1], f"alerts: webhook http://127.0.0.1:{refused.port} answered 500"),
        (urls[2], f"alerts: webhook http://127.0.0.1:{closed} failed: connect"),
    ]:
        daemon.config.write_text(base + f'\n[alerts]\nwebhook = "{url}"\nbatch = 0\n')
        daemon.ctl_ok("reload")
        daemon.ctl("start", "b")  # FATAL again: one more alert
        daemon.wait_until(lambda line=line: line in daemon.logfile.read_text(), 10)
    # A bad URL at reload: the error, logged and replied, names scheme and host only.
    daemon.config.write_text(base + f'\n[alerts]\nwebhook = "ftp://u:pw-SECRET@h/{SECRET}"\n')
    res = daemon.ctl("reload")
    assert res.returncode != 0 and 'got "ftp://h"' in res.stdout + res.stderr, daemon.describe(res)
    assert "SECRET" not in res.stdout + res.stderr
    text = daemon.logfile.read_text()
    assert "SECRET" not in text, [line for line in text.splitlines() if "SECRET" in line]


class MarkupServer:
    """Answers every connection with a first line of Slack markup: what a hostile or
    broken service shows a health probe."""

    LINE = b"<!channel> & <https://evil.example/|click here>\r\n"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.LINE)

    def close(self):
        self.sock.close()


def test_a_probes_failure_text_cannot_inject_slack_markup(daemon, recorder):
    """The health probe's reason quotes what the service answered; in the webhook's
    `text` Slack's control characters are escaped (issue 21.14)."""
    server, markup = recorder(), MarkupServer()
    try:
        daemon.write_config({"svc": {"command": ["sleep", "300"], "startsecs": 0,
                             "health": {"http": f"http://127.0.0.1:{markup.port}/",
                                        "interval": 0.2, "failures": 5}}})  # fmt: skip
        with open(daemon.config, "a") as fh:
            fh.write(f'\n[alerts]\nwebhook = "http://127.0.0.1:{server.port}/"\nbatch = 0\n'
                     'on = ["unhealthy"]\n')  # fmt: skip
        daemon.start()
        daemon.wait_until(lambda: server.received, 10, message="the unhealthy alert")
    finally:
        markup.close()
    body = server.received[0][2]
    text = body["text"]
    assert "<" not in text and ">" not in text and "& " not in text, text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example/|click here&gt;" in text, text
    # The programs' copy (`alerts`) keeps the words as said, one bounded line.
    assert "<!channel>" in body["alerts"][0]["text"]


def test_a_big_batch_lists_a_bounded_number_of_alerts_in_its_text(daemon, recorder):
    server = recorder()
    program = {**crasher(), "command": ["sh", "-c", "exit 3"], "numprocs": 60}
    daemon.write_config({"many": program})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[alerts]\nwebhook = "http://127.0.0.1:{server.port}/"\nbatch = 3\n'
                 'on = ["crashed"]\n')  # fmt: skip
    daemon.start()
    daemon.wait_until(lambda: server.received, 15, message="the batch")
    body = server.received[0][2]
    assert len(body["alerts"]) == 60, len(body["alerts"])
    lines = body["text"].splitlines()
    assert len(lines) == 1 + 50 + 1 and lines[-1] == "- and 10 more (every one is in `alerts`)"
