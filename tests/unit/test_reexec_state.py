"""The reexec state document (daemon/reexec_state.py): what a reader takes and refuses."""

from __future__ import annotations

import fcntl
import os

import pytest

from supervisord_lite.daemon import reexec_state
from supervisord_lite.daemon.reexec_state import StateError


def document(**fields) -> dict:
    base = {"config": "/etc/x.toml", "fds": {"control": 5, "pidfile": 6}, "processes": {}}
    base.update(fields)
    return reexec_state.new_document(**base)


def test_written_state_reads_back_and_is_sealed():
    fd = reexec_state.write(document(processes={"web": {"state": "RUNNING"}}))
    try:
        assert reexec_state.read(fd)["processes"] == {"web": {"state": "RUNNING"}}
        assert reexec_state.read(fd)["version"] == reexec_state.VERSION  # pread: again
        with pytest.raises(PermissionError):
            os.write(fd, b"{}")  # sealed: nobody changes it once written
        assert not os.get_inheritable(fd)  # inheritable only for the exec, on purpose
        assert fcntl.fcntl(fd, getattr(fcntl, "F_GET_SEALS", 1034)) & 8  # F_SEAL_WRITE
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"format": "other", "version": 1}, "not a supervisord-lite reexec document"),
        ([], "not a supervisord-lite reexec document"),
        (document(version=2), "version 2; this supervisord-lite reads version 1"),
        (document(config=None), "'config' is missing"),
        (document(fds={"control": 5}), "no pidfile descriptor"),
        (document(processes=[]), "'processes' is missing or not a dict"),
    ],
)
def test_a_state_it_does_not_understand_is_refused_with_the_reason(doc, message):
    with pytest.raises(StateError, match=message):
        reexec_state.check(doc)


def test_not_json_and_too_big_are_refused(monkeypatch):
    fd = os.memfd_create("t")
    try:
        os.write(fd, b"{not json")
        with pytest.raises(StateError, match="not JSON"):
            reexec_state.read(fd)
        monkeypatch.setattr(reexec_state, "MAX_BYTES", 4)
        with pytest.raises(StateError, match="more than 4"):
            reexec_state.read(fd)
    finally:
        os.close(fd)


def test_the_variable_leaves_the_environment():
    env = {reexec_state.ENV: "7", "PATH": "/bin"}
    assert reexec_state.fd_from_env(env) == 7
    assert env == {"PATH": "/bin"}
    assert reexec_state.fd_from_env(env) is None
    with pytest.raises(StateError, match="not a descriptor number"):
        reexec_state.fd_from_env({reexec_state.ENV: "7; rm"})
