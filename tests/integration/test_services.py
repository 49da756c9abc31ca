"""Real services under the daemon: http.server, nginx (master + workers), redis-server."""

from __future__ import annotations

import shutil
import socket
import sys
import time
import urllib.request

import psutil
import pytest

from integration.harness import free_port

pytestmark = pytest.mark.timeout(40)


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def port_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_http_server(daemon):
    port = free_port()
    (daemon.dir / "www").mkdir()
    (daemon.dir / "www" / "hello.txt").write_text("hello from supervisord_lite\n")
    daemon.start(
        {
            "http": {
                "command": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                "directory": "www",
                "startsecs": 0.5,
            }
        }
    )
    obj = daemon.wait_state("http", "RUNNING", timeout=10)
    daemon.wait_until(lambda: port_open(port), 10, message=f"port {port} open")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=5) as r:
        assert r.status == 200
        assert r.read() == b"hello from supervisord_lite\n"
    daemon.ctl_ok("stop", "http")
    assert not psutil.pid_exists(obj["pid"]) or psutil.Process(obj["pid"]).status() == "zombie"
    daemon.wait_until(lambda: port_bindable(port), 5, message=f"port {port} freed")
    # And it comes back on the same port.
    daemon.ctl_ok("start", "http")
    daemon.wait_until(lambda: port_open(port), 10, message=f"port {port} open again")


def nginx_processes(prefix: str) -> list[psutil.Process]:
    """nginx master and workers of this test (workers share the master's session)."""
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if p.info["name"] != "nginx":
                continue
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if prefix in cmd:
                out.append(p)
            elif "worker process" in cmd or "cache" in cmd:
                parent = p.parent()
                if parent is not None and prefix in " ".join(parent.cmdline()):
                    out.append(p)
        except psutil.Error:
            pass
    return out


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_nginx_master_and_workers_all_stopped(daemon):
    port = free_port()
    conf = daemon.dir / "nginx.conf"
    d = daemon.dir
    (d / "nginx-tmp").mkdir()
    conf.write_text(
        f"""
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/nginx-tmp/body;
    proxy_temp_path {d}/nginx-tmp/proxy;
    fastcgi_temp_path {d}/nginx-tmp/fastcgi;
    uwsgi_temp_path {d}/nginx-tmp/uwsgi;
    scgi_temp_path {d}/nginx-tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "nginx ok\\n"; }}
    }}
}}
"""
    )
    nginx = shutil.which("nginx")
    daemon.start(
        {
            "nginx": {
                "command": [nginx, "-p", str(d), "-c", str(conf), "-g", "daemon off;"],
                "startsecs": 0.5,
                "stopwaitsecs": 5,
            }
        }
    )
    obj = daemon.wait_state("nginx", "RUNNING", timeout=10)
    daemon.wait_until(lambda: port_open(port), 10, message="nginx listening")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert r.read() == b"nginx ok\n"
    procs = daemon.wait_until(
        lambda: len(nginx_processes(str(d))) >= 3 and nginx_processes(str(d)), 10
    )
    assert obj["pid"] in {p.pid for p in procs}
    daemon.ctl_ok("stop", "nginx")
    daemon.wait_until(
        lambda: not nginx_processes(str(d)), 3, message="no nginx master or worker left"
    )
    daemon.wait_until(lambda: port_bindable(port), 5, message="nginx port freed")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_redis_server(daemon):
    port = free_port()
    daemon.start(
        {
            "redis": {
                "command": [
                    shutil.which("redis-server"),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(daemon.dir),
                ],
                "startsecs": 0.5,
            }
        }
    )
    obj = daemon.wait_state("redis", "RUNNING", timeout=10)
    daemon.wait_until(lambda: port_open(port), 10, message="redis listening")

    def ping() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"PING\r\n")
            deadline = time.monotonic() + 5
            data = b""
            while not data.endswith(b"\r\n") and time.monotonic() < deadline:
                data += s.recv(64)
            return data

    assert ping() == b"+PONG\r\n"
    daemon.ctl_ok("stop", "redis")
    assert not psutil.pid_exists(obj["pid"]) or psutil.Process(obj["pid"]).status() == "zombie"
    daemon.wait_until(lambda: port_bindable(port), 5, message="redis port freed")
