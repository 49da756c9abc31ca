"""Held sockets (SPEC §11): bound by the daemon, handed over with LISTEN_FDS /
LISTEN_FDNAMES / LISTEN_PID (or on fd 0), kept across restarts, closed when unused."""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import time

import psutil
import pytest

from integration.harness import free_port, helper, to_toml

pytestmark = pytest.mark.timeout(60)


def write(daemon, sockets: dict, programs: dict) -> None:
    body = to_toml({f"sockets.{n}": t for n, t in sockets.items()})
    body += to_toml({f"programs.{n}": t for n, t in programs.items()})
    daemon.write_config(body)


def get(address) -> str:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(address)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.0 200"), data
    return data.partition(b"\r\n\r\n")[2].decode().strip()


def fields(text: str) -> dict:
    return dict(part.split("=", 1) for part in text.split())


def assert_fds(daemon, pid: int, expected: list[int]) -> None:
    """pid's descriptors are `expected`, once the server has closed the connection it
    just answered (its own socket for a moment after the reply): a leak never settles."""

    def settled():
        return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")) == expected

    daemon.wait_until(
        settled, 5, message=f"descriptors {expected}: {os.listdir(f'/proc/{pid}/fd')}"
    )


def test_listen_fds_reach_the_child_with_its_own_pid(daemon):
    port = free_port()
    unix = str(daemon.path("app.sock"))
    write(
        daemon,
        {
            "web": {"listen": f"tcp://127.0.0.1:{port}"},
            "admin": {"listen": f"unix://{unix}", "owner": "nobody"},
        },  # fmt: skip
        {"srv": {"command": helper("listen_server"), "sockets": ["web", "admin"]}},
    )
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    pid = daemon.status()["srv"]["pid"]
    served = fields(get(("127.0.0.1", port)))
    assert served == {"pid": str(pid), "listen_pid": str(pid), "names": "web:admin", "fds": "2"}
    # fd 4 is the unix socket, with the default mode 0660; nothing else is inherited
    assert os.stat(unix).st_mode & 0o777 == 0o660
    assert os.stat(unix).st_uid == pwd.getpwnam("nobody").pw_uid
    assert_fds(daemon, pid, [0, 1, 2, 3, 4])
    assert os.readlink(f"/proc/{pid}/fd/4").startswith("socket:")


def test_stdin_socket_puts_it_on_fd_0_without_listen_variables(daemon):
    port = free_port()
    write(
        daemon,
        {"fcgi": {"listen": f"tcp://127.0.0.1:{port}"}},
        {"srv": {"command": helper("listen_server", "--stdin"), "stdin_socket": "fcgi"}},
    )
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    served = fields(get(("127.0.0.1", port)))
    assert served["listen_pid"] == "None" and served["fds"] == "None"


def test_the_socket_survives_a_crash_and_queues_connections_meanwhile(daemon):
    port = free_port()
    write(
        daemon,
        {"web": {"listen": f"tcp://127.0.0.1:{port}"}},
        # a long backoff: the connection below is made while no process runs
        {"srv": {"command": helper("listen_server"), "sockets": ["web"], "startsecs": 0}},
    )
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    old = daemon.status()["srv"]["pid"]
    os.kill(old, signal.SIGKILL)
    daemon.wait_until(lambda: daemon.status()["srv"]["pid"] not in (None, old))
    # Accepted by the kernel on the held socket whether or not a child is up yet.
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    new = daemon.status()["srv"]["pid"]
    assert fields(get(("127.0.0.1", port)))["pid"] == str(new)


def test_a_socket_no_program_names_after_reload_is_closed(daemon):
    port = free_port()
    unix = str(daemon.path("gone.sock"))
    sockets = {"web": {"listen": f"tcp://127.0.0.1:{port}"}, "u": {"listen": f"unix://{unix}"}}
    server = {"command": helper("listen_server"), "sockets": ["web", "u"]}
    write(daemon, sockets, {"srv": server})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    get(("127.0.0.1", port))
    write(daemon, sockets, {"other": {"command": ["sleep", "300"], "startsecs": 0}})
    daemon.ctl_ok("reload")
    daemon.wait_state("other", "RUNNING")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert not os.path.exists(unix), "the removed unix socket's file was left behind"


def test_a_changed_listen_rebinds_and_restarts_its_program(daemon):
    first, second = free_port(), free_port()
    server = {"command": helper("listen_server"), "sockets": ["web"]}
    write(daemon, {"web": {"listen": f"tcp://127.0.0.1:{first}"}}, {"srv": server})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    write(daemon, {"web": {"listen": f"tcp://127.0.0.1:{second}"}}, {"srv": server})
    assert json.loads(daemon.ctl_ok("--json", "reload").stdout)["changed"] == ["srv"]
    daemon.wait_state("srv", "RUNNING")
    pid = daemon.status()["srv"]["pid"]
    assert fields(get(("127.0.0.1", second)))["pid"] == str(pid)
    daemon.wait_until(lambda: _refused(("127.0.0.1", first)))


def _refused(address) -> bool:
    try:
        socket.create_connection(address, timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_bind_failure_is_a_launch_error_naming_the_table(daemon):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write(
            daemon,
            {"web": {"listen": f"tcp://127.0.0.1:{port}"}},
            {"srv": {"command": ["sleep", "300"], "sockets": ["web"]}},
        )
        res = daemon.launch()
    assert res.returncode != 0
    assert "[sockets.web]" in res.stderr and "Address already in use" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_a_bind_failure_rejects_the_reload_and_keeps_the_old_config(daemon):
    port = free_port()
    server = {"command": helper("listen_server"), "sockets": ["web"]}
    write(daemon, {"web": {"listen": f"tcp://127.0.0.1:{port}"}}, {"srv": server})
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    pid = daemon.status()["srv"]["pid"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        extra = {"web": {"listen": f"tcp://127.0.0.1:{port}"},
                 "more": {"listen": f"tcp://127.0.0.1:{busy}"}}  # fmt: skip
        write(daemon, extra, {"srv": {**server, "sockets": ["web", "more"]}})
        res = daemon.ctl("reload")
    assert res.returncode == 1 and "[sockets.more]" in res.stderr, daemon.describe(res)
    assert daemon.status()["srv"]["pid"] == pid
    assert fields(get(("127.0.0.1", port)))["pid"] == str(pid)


def test_a_program_with_user_and_directory_gets_its_sockets_too(daemon):
    """The Popen path (user, directory): same fds, same variables."""
    port = free_port()
    os.chmod(daemon.dir, 0o755)
    write(
        daemon,
        {"web": {"listen": f"tcp://127.0.0.1:{port}"}},
        # the system's python3: nobody may not run this venv's
        {
            "srv": {
                "command": ["python3", *helper("listen_server")[1:]],
                "sockets": ["web"],
                "user": "nobody",
                "directory": "/",
            }
        },  # fmt: skip
    )
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    pid = daemon.status()["srv"]["pid"]
    assert fields(get(("127.0.0.1", port)))["listen_pid"] == str(pid)
    assert_fds(daemon, pid, [0, 1, 2, 3])


def test_a_file_or_link_at_a_unix_socket_path_is_never_replaced(daemon):
    """Only a socket nobody listens on is removed before binding: a link planted at the
    path (to a file root owns) makes the launch fail, and its target is untouched."""
    target = daemon.path("precious")
    target.write_text("keep me")
    link = daemon.path("app.sock")
    os.symlink(target, link)
    write(
        daemon,
        {"u": {"listen": f"unix://{link}", "mode": "0666"}},
        {"srv": {"command": ["sleep", "300"], "sockets": ["u"]}},
    )
    res = daemon.launch()
    assert res.returncode != 0 and "[sockets.u]" in res.stderr, res.stderr
    assert "not a socket" in res.stderr, res.stderr
    assert os.path.islink(link) and target.read_text() == "keep me"
    assert os.stat(target).st_mode & 0o777 != 0o666


def test_a_stale_unix_socket_is_taken_over(daemon):
    path = str(daemon.path("app.sock"))
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays; nobody listens
    write(
        daemon,
        {"u": {"listen": f"unix://{path}"}},
        {"srv": {"command": helper("listen_server"), "sockets": ["u"]}},
    )
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    assert fields(get(path))["names"] == "u"


def test_held_sockets_cost_an_idle_daemon_no_wakeups(daemon):
    """The daemon never watches a held socket: a connection queued on it, or none, an
    idle daemon sleeps (the children accept, not the daemon)."""
    port = free_port()
    write(
        daemon,
        {"web": {"listen": f"tcp://127.0.0.1:{port}"}},
        {"idle": {"command": ["sleep", "300"], "sockets": ["web"], "startsecs": 0}},
    )
    dpid = daemon.start()
    daemon.wait_state("idle", "RUNNING")
    proc = psutil.Process(dpid)
    with socket.create_connection(("127.0.0.1", port), timeout=5):  # queued, never accepted
        time.sleep(0.5)  # start-up work (log flushes, the child record) settles
        before = proc.num_ctx_switches().voluntary
        time.sleep(1.5)
        assert proc.num_ctx_switches().voluntary - before == 0


def test_a_program_with_limits_gets_its_sockets_too(daemon):
    """The Popen path with a preexec_fn (limits): the sockets are copied there too."""
    port = free_port()
    write(
        daemon,
        {"web": {"listen": f"tcp://127.0.0.1:{port}"}},
        {
            "srv": {
                "command": helper("listen_server"),
                "sockets": ["web"],
                "limits": {"nofile": 512},
            }
        },  # fmt: skip
    )
    daemon.start()
    daemon.wait_state("srv", "RUNNING")
    pid = daemon.status()["srv"]["pid"]
    assert fields(get(("127.0.0.1", port)))["listen_pid"] == str(pid)
    assert_fds(daemon, pid, [0, 1, 2, 3])
