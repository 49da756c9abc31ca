"""Every XML-RPC method SPEC §12 lists, called with xmlrpc.client through Supervisor's own
transport: Supervisor's field names, state codes and fault codes; log reads checked
against Supervisor's own readFile/tailFile on the same file."""

from __future__ import annotations

import os
import xmlrpc.client

import pytest
from supervisor.options import readFile, tailFile
from supervisor.xmlrpc import Faults

from integration.harness import helper, wait_until
from integration.xmlrpc_helpers import proxy, start_xmlrpc

INFO_KEYS = {
    "name",
    "group",
    "start",
    "stop",
    "now",
    "state",
    "statename",
    "spawnerr",
    "exitstatus",
    "logfile",
    "stdout_logfile",
    "stderr_logfile",
    "pid",
    "description",
}


def sleeper(**extra) -> dict:
    program = {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 2}
    program.update(extra)
    return program


def fault_of(call, *args) -> int:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(*args)
    return caught.value.faultCode


@pytest.mark.timeout(90)
def test_info_and_daemon_methods(daemon):
    url = start_xmlrpc(
        daemon, {"web": sleeper(), "pool": sleeper(numprocs=2), "idle": sleeper(autostart=False)}
    )
    daemon.wait_state("pool:1", "RUNNING")
    server = proxy(url)
    sv = server.supervisor
    assert sv.getAPIVersion() == "3.0" == sv.getVersion()
    assert isinstance(sv.getSupervisorVersion(), str)
    assert sv.getIdentification() == "supervisor"
    assert sv.getState() == {"statecode": 1, "statename": "RUNNING"}
    assert sv.getPID() == daemon.pid

    info = sv.getProcessInfo("web")
    assert set(info) == INFO_KEYS
    assert (info["name"], info["group"], info["state"], info["statename"]) == (
        "web",
        "web",
        20,
        "RUNNING",
    )
    assert info["pid"] == daemon.status("web")["web"]["pid"]
    assert info["description"].startswith(f"pid {info['pid']}, uptime 0:00:")
    assert abs(info["start"] - info["now"]) < 30 and info["stdout_logfile"].endswith(
        "web.stdout.log"
    )
    idle = sv.getProcessInfo("idle")
    assert (idle["state"], idle["description"], idle["start"], idle["pid"]) == (
        0,
        "Not started",
        0,
        0,
    )
    pool0 = sv.getProcessInfo("pool:0")
    assert (pool0["name"], pool0["group"]) == ("0", "pool")
    assert fault_of(sv.getProcessInfo, "pool") == Faults.BAD_NAME  # a group, not a process
    assert fault_of(sv.getProcessInfo, "nope") == Faults.BAD_NAME

    every = sv.getAllProcessInfo()
    assert [(i["group"], i["name"]) for i in every] == [
        ("idle", "idle"),
        ("pool", "0"),
        ("pool", "1"),
        ("web", "web"),
    ]
    configs = sv.getAllConfigInfo()
    assert [c["name"] for c in configs] == ["0", "1", "idle", "web"]
    web = next(c for c in configs if c["name"] == "web")
    assert (web["group"], web["inuse"], web["autostart"], web["process_prio"]) == (
        "web",
        True,
        True,
        999,
    )
    assert web["stopsignal"] == 15 and web["exitcodes"] == [0]

    assert server.system.methodSignature("supervisor.startProcess") == [
        "boolean",
        "string",
        "boolean",
    ]
    assert "Start" in server.system.methodHelp("supervisor.startProcess")
    methods = server.system.listMethods()
    for name in (
        "supervisor.getAllProcessInfo",
        "supervisor.tailProcessStdoutLog",
        "system.multicall",
        "supervisor.sendRemoteCommEvent",
    ):
        assert name in methods
    assert fault_of(server.supervisor.noSuchMethod) == Faults.UNKNOWN_METHOD
    assert fault_of(server.supervisor._update, "x") == Faults.UNKNOWN_METHOD
    assert fault_of(sv.getProcessInfo) == Faults.INCORRECT_PARAMETERS
    assert fault_of(sv.getProcessInfo, 5) == Faults.INCORRECT_PARAMETERS
    assert sv.sendRemoteCommEvent("type", "data") is True

    results = server.system.multicall(
        [
            {"methodName": "supervisor.getPID", "params": []},
            {"methodName": "supervisor.startProcess", "params": ["idle"]},
            {"methodName": "supervisor.getProcessInfo", "params": ["nope"]},
            {"methodName": "system.multicall", "params": [[]]},
            {"methodName": "supervisor.getState"},
        ]
    )
    assert results[0] == daemon.pid and results[1] is True
    assert results[2]["faultCode"] == Faults.BAD_NAME
    assert results[3]["faultCode"] == Faults.INCORRECT_PARAMETERS
    assert results[4]["statename"] == "RUNNING"
    assert sv.getProcessInfo("idle")["statename"] == "RUNNING"  # the multicall's start waited
    many = [{"methodName": "supervisor.getPID", "params": []}] * 256
    assert server.system.multicall(many) == [daemon.pid] * 256
    assert fault_of(server.system.multicall, many + many[:1]) == Faults.INCORRECT_PARAMETERS


@pytest.mark.timeout(120)
def test_start_stop_signal_methods(daemon):
    url = start_xmlrpc(
        daemon,
        {
            "web": sleeper(),
            "pool": sleeper(numprocs=2, autostart=False),
            "crash": {"command": ["sh", "-c", "exit 3"], "autostart": False, "startretries": 0},
        },
    )
    daemon.wait_state("web", "RUNNING")
    sv = proxy(url).supervisor
    assert fault_of(sv.startProcess, "web") == Faults.ALREADY_STARTED
    assert fault_of(sv.startProcess, "crash") == Faults.ABNORMAL_TERMINATION
    results = sv.startProcessGroup("pool")
    assert [(r["name"], r["group"], r["status"], r["description"]) for r in results] == [
        ("0", "pool", Faults.SUCCESS, "OK"),
        ("1", "pool", Faults.SUCCESS, "OK"),
    ]
    assert sv.startProcessGroup("pool") == []  # only those not running are started
    assert fault_of(sv.startProcessGroup, "nope") == Faults.BAD_NAME

    assert sv.signalProcess("web", "USR1") is True
    wait_until(lambda: "got SIGUSR1" in daemon.read_log("web"), 5)
    assert fault_of(sv.signalProcess, "web", "NOPE") == Faults.BAD_SIGNAL
    assert [r["status"] for r in sv.signalProcessGroup("pool", "HUP")] == [Faults.SUCCESS] * 2
    assert {r["name"] for r in sv.signalAllProcesses(1)} == {"web", "0", "1"}
    bad = sv.signalAllProcesses("NOPE")
    assert {r["status"] for r in bad} == {Faults.BAD_SIGNAL}

    assert sv.stopProcess("pool:0") is True
    assert sv.getProcessInfo("pool:0")["statename"] == "STOPPED"  # wait=True waited
    assert fault_of(sv.stopProcess, "pool:0") == Faults.NOT_RUNNING
    assert fault_of(sv.signalProcess, "pool:0", "HUP") == Faults.NOT_RUNNING
    assert sv.stopProcess("pool:1", False) is True
    daemon.wait_state("pool:1", "STOPPED")
    assert sv.startProcess("pool:*") == [
        {"name": "0", "group": "pool", "status": Faults.SUCCESS, "description": "OK"},
        {"name": "1", "group": "pool", "status": Faults.SUCCESS, "description": "OK"},
    ]
    stopped = sv.stopAllProcesses()
    assert sorted(r["name"] for r in stopped) == ["0", "1", "web"]
    assert {r["status"] for r in stopped} == {Faults.SUCCESS}
    assert all(i["statename"] in ("STOPPED", "FATAL") for i in sv.getAllProcessInfo())
    started = sv.startAllProcesses()
    statuses = {r["name"]: r["status"] for r in started}
    assert statuses == {
        "web": Faults.SUCCESS,
        "0": Faults.SUCCESS,
        "1": Faults.SUCCESS,
        "crash": Faults.ABNORMAL_TERMINATION,
    }
    assert sv.stopProcessGroup("pool") and sv.stopProcessGroup("pool") == []


@pytest.mark.timeout(60)
def test_log_reads_match_supervisors_own(daemon):
    command = [
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo line $i; echo err $i >&2; i=$((i+1)); done; sleep 1000",
    ]
    url = start_xmlrpc(daemon, {"w": {"command": command, "startsecs": 0}})
    wait_until(
        lambda: "line 299" in daemon.read_log("w") and "err 299" in daemon.read_log("w", "stderr"),
        10,
    )
    sv = proxy(url).supervisor
    path = str(daemon.log_path("w"))
    size = os.path.getsize(path)
    for offset, length in (
        (0, 0),
        (0, 100),
        (-100, 0),
        (-(size + 50), 0),
        (size - 10, 0),
        (size + 10, 5),
        (5, 17),
    ):
        assert (
            sv.readProcessStdoutLog("w", offset, length) == readFile(path, offset, length).decode()
        )
    assert fault_of(sv.readProcessStdoutLog, "w", -5, 5) == Faults.BAD_ARGUMENTS
    assert fault_of(sv.readProcessStdoutLog, "w", 0, -5) == Faults.BAD_ARGUMENTS
    for offset, length in (
        (0, 100),
        (size - 50, 100),
        (size, 100),
        (size + 500, 10),
        (size - 100, 100),
        (0, 0),
        (10, size * 2),
    ):
        assert sv.tailProcessStdoutLog("w", offset, length) == tailFile(path, offset, length)
    err = str(daemon.log_path("w", "stderr"))
    assert sv.tailProcessStderrLog("w", 0, 64) == tailFile(err, 0, 64)
    assert sv.readProcessStderrLog("w", -20, 0) == readFile(err, -20, 0).decode()
    assert fault_of(sv.readProcessStdoutLog, "nope", 0, 10) == Faults.BAD_NAME

    assert "xmlrpc: serving" in sv.readLog(0, 0)
    assert sv.readLog(-10, 0) == daemon.logfile.read_text()[-10:]
    assert fault_of(sv.clearLog) == Faults.FAILED  # rotate it with logrotate + SIGUSR2
    assert sv.clearProcessLogs("w") is True
    assert os.path.getsize(path) == 0
    assert [(r["name"], r["status"]) for r in sv.clearAllProcessLogs()] == [("w", Faults.SUCCESS)]


@pytest.mark.timeout(90)
def test_reload_add_remove_restart_shutdown(daemon):
    url = start_xmlrpc(daemon, {"a": sleeper(), "b": sleeper()})
    daemon.wait_state("b", "RUNNING")
    sv = proxy(url).supervisor
    assert sv.reloadConfig() == [[[], [], []]]
    text = daemon.config.read_text().replace("[programs.b]", "[programs.c]")
    daemon.config.write_text(text)
    assert sv.reloadConfig() == [[["c"], [], ["b"]]]
    assert fault_of(sv.addProcessGroup, "a") == Faults.ALREADY_ADDED
    assert fault_of(sv.addProcessGroup, "nope") == Faults.BAD_NAME
    assert sv.addProcessGroup("c") is True
    daemon.wait_state("c", "RUNNING")
    assert fault_of(sv.removeProcessGroup, "b") == Faults.STILL_RUNNING
    assert sv.stopProcess("b") and sv.removeProcessGroup("b") is True
    assert fault_of(sv.removeProcessGroup, "b") == Faults.BAD_NAME
    assert set(daemon.status()) == {"a", "c"}
    daemon.config.write_text("not = [toml")
    assert fault_of(sv.reloadConfig) == Faults.CANT_REREAD
    daemon.config.write_text(text)

    old = daemon.status("a")["a"]["pid"]
    assert sv.restart() is True
    wait_until(lambda: daemon.status("a")["a"]["pid"] not in (None, old), 20)
    wait_until(lambda: sv.getState()["statename"] == "RUNNING", 20)

    dpid = daemon.pid
    assert sv.shutdown() is True
    wait_until(lambda: not os.path.exists(f"/proc/{dpid}"), 20, message="the daemon to exit")


def test_no_wakeups_when_idle_with_xmlrpc_on(daemon):
    import time

    import psutil

    url = start_xmlrpc(daemon, {"web": sleeper()}, extra="idle_timeout = 1")
    daemon.wait_state("web", "RUNNING")
    assert proxy(url).supervisor.getState()["statename"] == "RUNNING"  # came and went
    proc = psutil.Process(daemon.pid)

    def switches() -> int:
        c = proc.num_ctx_switches()
        return c.voluntary + c.involuntary

    time.sleep(0.5)  # the closed client's last timer
    before = switches()
    time.sleep(2.0)  # a quiet window: nothing may wake the daemon
    assert switches() - before == 0
