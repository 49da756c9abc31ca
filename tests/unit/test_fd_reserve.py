"""The descriptors the daemon keeps for its programs when it sizes max_clients: two per
stream (the pipe, the log file), so one stream with redirect_stderr."""

from __future__ import annotations

from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.daemon.process_limits import OWN_FDS, reserved_fds


def config(**programs: ProgramConfig) -> DaemonConfig:
    return DaemonConfig(
        path="/x.toml", socket="/x.sock", pidfile="/x.pid", logfile=None, programs=programs
    )


def test_two_descriptors_per_stream():
    both = ProgramConfig(name="both", command=("true",), numprocs=3)
    one = ProgramConfig(name="one", command=("true",), numprocs=5, redirect_stderr=True)
    assert reserved_fds(config(both=both)) == OWN_FDS + 3 * 4
    assert reserved_fds(config(both=both, one=one)) == OWN_FDS + 3 * 4 + 5 * 2
