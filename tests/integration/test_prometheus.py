"""The shipped Prometheus and Grafana files (configs/prometheus, configs/grafana) against
the real tools: promtool checks and unit-tests them, and a real Prometheus scrapes real
daemons' [http] /metrics (one static target, one from file_sd) and is queried over its
HTTP API. Skipped where prometheus/promtool are not installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from integration.harness import free_port, wait_until
from integration.http_helpers import request, start_http

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "configs" / "prometheus"
DASHBOARD = ROOT / "configs" / "grafana" / "supervisord-lite.json"
TOKEN = "s3cret-scrape-token-0123456789abcdef"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")
needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="no prometheus binary"
)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    res = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def shipped_copy(dest: Path) -> Path:
    """configs/prometheus copied to `dest`, with the token the scrape config names."""
    shutil.copytree(PROM_DIR, dest)
    token = dest / "supervisord-lite.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return dest


def alert_names(rules: Path) -> list[str]:
    return re.findall(r"^\s*- alert: (\S+)$", rules.read_text(), re.M)


@needs_promtool
def test_promtool_accepts_the_shipped_config_and_rules(tmp_path):
    copy = shipped_copy(tmp_path / "prometheus")
    promtool("check", "config", "prometheus.yml", cwd=copy)
    out = promtool("check", "rules", "rules.yml", cwd=copy).stdout
    assert f"SUCCESS: {len(alert_names(copy / 'rules.yml'))} rules found" in out


@needs_promtool
def test_every_alert_fires_in_the_rules_unit_tests():
    """rules_test.yml proves each alert fires on a synthetic series: every alert of
    rules.yml must have a test case expecting it to fire."""
    promtool("test", "rules", "rules_test.yml", cwd=PROM_DIR)
    tests = (PROM_DIR / "rules_test.yml").read_text()
    fired = set(re.findall(r"alertname: (\S+)\n\s+exp_alerts:\n\s+- exp_labels", tests))
    assert set(alert_names(PROM_DIR / "rules.yml")) == fired


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def as_promql(expr: str) -> str:
    """A dashboard query as Prometheus runs it once Grafana fills its variables in."""
    return expr.replace("$host", ".*").replace("$__rate_interval", "1m")


def test_the_dashboard_uses_only_series_the_daemon_exports(daemon):
    sleeper = {"command": ["sleep", "300"], "startsecs": 0}
    port = start_http(daemon, {"a": {**sleeper, "health": {"exec": ["true"], "interval": 0.2}}})
    daemon.wait_state("a", "RUNNING")
    daemon.wait_until(lambda: "_process_healthy{" in daemon.ctl_ok("metrics").stdout, 10)
    status, _, body = request(port, "GET", "/metrics")
    assert status == 200
    exported = {f.name for f in text_string_to_metric_families(body.decode())}
    # the parser drops a counter's _total suffix; the queries use the full names
    exported |= {name + "_total" for name in exported}
    used = {n for e in dashboard_exprs() for n in re.findall(r"supervisord_lite_\w+", e)}
    assert used and used <= exported, used - exported


def test_metrics_show_health_once_known(daemon):
    """_process_healthy: 1 while the health check passes, 0 once it fails; absent for a
    process without a health table (the unhealthy alert reads it)."""
    flag = daemon.path("healthy")
    flag.write_text("")
    check = {"exec": ["test", "-e", str(flag)], "interval": 0.2, "failures": 1000}
    daemon.start({"api": {"command": ["sleep", "300"], "startsecs": 0, "health": check},
                  "plain": {"command": ["sleep", "300"], "startsecs": 0}})  # fmt: skip

    def healthy() -> dict:
        text = daemon.ctl_ok("metrics").stdout
        return {s.labels["name"]: s.value for f in text_string_to_metric_families(text)
                for s in f.samples if s.name == "supervisord_lite_process_healthy"}  # fmt: skip

    daemon.wait_until(lambda: healthy() == {"api": 1}, 10)
    flag.unlink()
    daemon.wait_until(lambda: healthy() == {"api": 0}, 10)


# --- a real Prometheus scraping real daemons ----------------------------------------------


class Prometheus:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> dict:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as res:
            return json.loads(res.read())

    def query(self, promql: str) -> list[dict]:
        reply = self.get("/api/v1/query", query=promql)
        assert reply["status"] == "success", reply
        return reply["data"]["result"]

    def value(self, promql: str) -> float | None:
        """The single sample's value, or None when the query has no result."""
        result = self.query(promql)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def firing(self) -> list[dict]:
        return [a for a in self.get("/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"]


def ready(prom: Prometheus) -> bool:
    try:
        with urllib.request.urlopen(prom.base + "/-/ready", timeout=2) as res:
            return res.status == 200
    except OSError:
        return False


@pytest.fixture
def run_prometheus(tmp_path):
    """Start Prometheus on the shipped config, its targets swapped for `static` and
    `file_sd` (host:port each), scraping and evaluating every second; killed at teardown
    whatever happened."""
    procs: list[subprocess.Popen] = []

    def run(static: str, file_sd: str) -> Prometheus:
        conf = shipped_copy(tmp_path / "prometheus")
        shutil.rmtree(conf / "targets")  # the examples name hosts that do not exist
        (conf / "targets").mkdir()
        (conf / "targets" / "test.yml").write_text(f'- targets: ["{file_sd}"]\n')
        text = (conf / "prometheus.yml").read_text()
        for old, new in (
            ("scrape_interval: 15s", "scrape_interval: 1s"),
            ("evaluation_interval: 15s", "evaluation_interval: 1s"),
            ('["web1.example.com:9001", "web2.example.com:9001"]', f'["{static}"]'),
        ):
            assert text.count(old) == 1, f"the shipped prometheus.yml changed: {old!r}"
            text = text.replace(old, new)
        (conf / "prometheus.yml").write_text(text)
        port = free_port()
        log = open(tmp_path / "prometheus.log", "wb")
        procs.append(
            subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={conf / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )  # fmt: skip
        )
        log.close()
        prom = Prometheus(port)
        wait_until(lambda: ready(prom) or procs[-1].poll() is not None, 30)
        assert procs[-1].poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
        return prom

    try:
        yield run
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
        log = tmp_path / "prometheus.log"
        if log.exists():
            print("--- prometheus log ---\n" + log.read_text(errors="replace")[-3000:])


def start_with_token(daemon, programs: dict, tmp: Path) -> int:
    token = tmp / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    port = free_port()
    daemon.write_config(programs)
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[http]\nlisten = "127.0.0.1:{port}"\ntoken_file = "{token}"\n')
    daemon.start()
    return port


@needs_prometheus
def test_prometheus_scrapes_real_daemons(make_daemon, run_prometheus, tmp_path):
    web_host, db_host = make_daemon(), make_daemon()
    sleeper = {"command": ["sleep", "300"], "startsecs": 0}
    web_port = start_with_token(
        web_host,
        {
            "web": sleeper,
            "api": {**sleeper, "health": {"exec": ["true"], "interval": 0.5}},
            # gives up at once: FATAL
            "bad": {"command": ["false"], "startsecs": 1, "startretries": 0},
        },
        tmp_path,
    )
    db_port = start_with_token(db_host, {"db": sleeper}, tmp_path)
    web_host.wait_state("bad", "FATAL")
    prom = run_prometheus(static=f"127.0.0.1:{web_port}", file_sd=f"127.0.0.1:{db_port}")

    # the static target, through the bearer token and the host relabelling
    up = 'supervisord_lite_process_up{name="web",host="127.0.0.1"}'
    wait_until(lambda: prom.value(up) == 1, 30, message="web never showed up in Prometheus")
    # the file_sd target
    wait_until(lambda: prom.value('supervisord_lite_process_up{name="db"}') == 1, 15)
    [series] = prom.query('supervisord_lite_process_up{name="db"}')
    assert series["metric"]["instance"] == f"127.0.0.1:{db_port}"
    # health, as the unhealthy alert reads it
    wait_until(lambda: prom.value('supervisord_lite_process_healthy{name="api"}') == 1, 15)

    # a stop shows
    web_host.ctl_ok("stop", "web")
    # (a scrape while it was STOPPING already has up at 0: wait for the STOPPED one)
    stopped = 'supervisord_lite_process_state{name="web",state="STOPPED"}'
    wait_until(lambda: prom.value(stopped) == 1, 15, message="web's stop never reached Prometheus")
    assert prom.value(up) == 0

    # the shipped rules run: the FATAL alert fires for "bad", and only for it
    def fatal_alerts():
        return [a["labels"]["name"] for a in prom.firing()
                if a["labels"]["alertname"] == "SupervisordLiteProcessFatal"]  # fmt: skip

    wait_until(lambda: fatal_alerts() == ["bad"], 15, message=lambda: str(prom.firing()))

    # every dashboard query runs, and those about running processes have data
    for expr in dashboard_exprs():
        assert prom.query(as_promql(expr)) is not None
    mem = 'supervisord_lite_process_resident_memory_bytes{name="db"}'
    assert prom.value(mem) > 0

    # a daemon gone: its target goes down (what SupervisordLiteDown waits on for 1m)
    db_host.ctl_ok("shutdown")
    target_up = f'up{{job="supervisord-lite",instance="127.0.0.1:{db_port}"}}'
    wait_until(lambda: prom.value(target_up) == 0, 15)
    assert prom.value(f'up{{instance="127.0.0.1:{web_port}"}}') == 1
