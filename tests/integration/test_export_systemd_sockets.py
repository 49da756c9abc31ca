"""`export systemd` maps [sockets.NAME] to .socket units passed with Sockets= (SPEC §11),
stdin_socket to StandardInput=socket, reload_signal to ExecReload=; systemd-analyze
verifies them."""

from __future__ import annotations

import pytest

from integration.harness import to_toml
from integration.systemd_units import needs_analyze, verify
from integration.test_export_systemd import export, unit_files, unit_keys

pytestmark = pytest.mark.timeout(60)


def config(tmp_path):
    path = tmp_path / "sdl.toml"
    path.write_text(
        to_toml({
            "supervisord": {"socket": str(tmp_path / "s.sock"), "pidfile": str(tmp_path / "p"),
                            "log_dir": str(tmp_path)},
            "sockets.web": {"listen": "tcp://127.0.0.1:8000", "backlog": 64},
            "sockets.six": {"listen": "tcp://[::1]:8001"},
            "sockets.fcgi": {"listen": f"unix://{tmp_path}/fcgi.sock", "mode": "0600",
                             "owner": "daemon"},
            "programs.gu": {"command": "/bin/sleep 100", "sockets": ["web", "six"],
                            "reload_signal": "HUP"},
            "programs.many": {"command": "/bin/sleep 100", "numprocs": 2, "sockets": ["web"]},
            "programs.php": {"command": "/bin/cat", "stdin_socket": "fcgi"},
        })
    )  # fmt: skip
    return path


def test_sockets_become_socket_units_passed_to_their_services(tmp_path):
    out = tmp_path / "units"
    res = export(config(tmp_path), out)
    assert res.returncode == 0, res.stderr
    web = unit_keys(out / "supervisord-lite-web.socket")
    assert web["ListenStream"] == ["127.0.0.1:8000"] and web["Backlog"] == ["64"]
    assert web["FileDescriptorName"] == ["web"]
    six = unit_keys(out / "supervisord-lite-six.socket")
    assert six["ListenStream"] == ["[::1]:8001"] and six["BindIPv6Only"] == ["ipv6-only"]
    fcgi = unit_keys(out / "supervisord-lite-fcgi.socket")
    assert fcgi["ListenStream"] == [f"{tmp_path}/fcgi.sock"]
    assert (fcgi["SocketMode"], fcgi["SocketUser"]) == (["0600"], ["daemon"])
    gu = unit_keys(out / "supervisord-lite-gu.service")
    assert gu["Sockets"] == ["supervisord-lite-web.socket supervisord-lite-six.socket"]
    assert gu["ExecReload"] == ["/bin/kill -s HUP $MAINPID"]
    many = unit_keys(out / "supervisord-lite-many@.service")
    assert many["Sockets"] == ["supervisord-lite-web.socket"]
    php = unit_keys(out / "supervisord-lite-php.service")
    assert php["StandardInput"] == ["socket"] and php["Sockets"] == ["supervisord-lite-fcgi.socket"]
    assert "restart --rolling has no systemd counterpart" in res.stderr


@needs_analyze
def test_systemd_analyze_verifies_the_socket_units(tmp_path):
    out = tmp_path / "units"
    assert export(config(tmp_path), out).returncode == 0
    checked = verify(unit_files(out), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr == "", checked.stderr
