"""web: the [http] server with 1000 sleeping programs.

- /metrics: the daemon's CPU per scrape and the bytes of one, against supervisord's
  XML-RPC getAllProcessInfo (the nearest thing it serves) over its socket.
- The page in headless Chromium: time from navigation to the full table; how long
  after a state change (the daemon's event time) the row changed (the page records
  Date.now() - event time per event); supervisord_lite only.
- Idle: context switches of the daemon with [http] on and no client.
"""

from __future__ import annotations

import http.client
import os
import sys
import time
import xmlrpc.client

from benchmarks.common import Row, Settings, cpu_seconds, ctx_switches, median
from benchmarks.managers import Lite, Supervisord, supervisor_available

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tests"))

N = 1000


class LiteHttp(Lite):
    def write_config(self, programs) -> None:
        super().write_config(programs)
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with open(self.config, "a") as fh:
            fh.write(f'\n[http]\nlisten = "127.0.0.1:{self.port}"\n')

    def get(self, path: str) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            return conn.getresponse().read()
        finally:
            conn.close()


def scrape_lite(scrapes: int) -> tuple[float, int]:
    with LiteHttp() as mgr:
        mgr.launch_sleepers(N)
        size = len(mgr.get("/metrics"))
        cpu0 = cpu_seconds(mgr.pid)
        for _ in range(scrapes):
            mgr.get("/metrics")
        return (cpu_seconds(mgr.pid) - cpu0) / scrapes, size


def scrape_supervisord(scrapes: int) -> tuple[float, int]:
    with Supervisord() as mgr:
        mgr.launch_sleepers(N)
        client = mgr.client()
        size = len(xmlrpc.client.dumps((client.status(),), methodresponse=True).encode())
        cpu0 = cpu_seconds(mgr.pid)
        for _ in range(scrapes):
            client.status()
        spent = (cpu_seconds(mgr.pid) - cpu0) / scrapes
        client.close()
        return spent, size


def page(repeats: int, stops: int) -> tuple[list[float], list[float], int]:
    from integration import browser

    loads, delays = [], []
    with LiteHttp() as mgr:
        mgr.launch_sleepers(N)
        time.sleep(1.0)
        c0 = ctx_switches(mgr.pid)
        time.sleep(3.0)
        idle = ctx_switches(mgr.pid) - c0
        with browser.chromium() as driver:
            for _ in range(repeats):
                began = time.perf_counter()
                driver.get(f"http://127.0.0.1:{mgr.port}/")
                while driver.execute_script("return document.body.dataset.loaded") != str(N):
                    time.sleep(0.005)
                loads.append(time.perf_counter() - began)
            client = mgr.client()
            for i in range(stops):
                client.call("stop", {"names": [mgr.programs[i].name]})
            want = 2 * stops  # RUNNING -> STOPPING -> STOPPED each
            for _ in range(1000):
                got = driver.execute_script("return window.sdlEventDelays")
                if len(got) >= want:
                    break
                time.sleep(0.01)
            delays = [d * 1000 for d in got]
            client.close()
    return loads, delays, idle


def run(settings: Settings) -> list[Row]:
    scrapes, repeats = settings.pick(20, 5), settings.pick(5, 2)
    cpu = Row("web", f"/metrics, {N} programs: daemon CPU per scrape (ms)", fmt="{:.1f}",
              note="supervisord: XML-RPC getAllProcessInfo")  # fmt: skip
    size = Row("web", f"/metrics, {N} programs: bytes per scrape", fmt="{:.0f}",
               note="supervisord: getAllProcessInfo response")  # fmt: skip
    runs = [scrape_lite(scrapes) for _ in range(repeats)]
    cpu.lite, size.lite = median([c * 1000 for c, _ in runs]), runs[0][1]
    if settings.with_supervisord and supervisor_available():
        runs = [scrape_supervisord(scrapes) for _ in range(repeats)]
        cpu.supervisord, size.supervisord = median([c * 1000 for c, _ in runs]), runs[0][1]
    rows = [cpu, size]
    from integration import browser

    if browser.available():
        loads, delays, idle = page(repeats, settings.pick(20, 5))
        load = Row("web", f"page, {N} processes: navigation to full table (s)", fmt="{:.2f}",
                   note=f"median of {len(loads)}, headless Chromium")  # fmt: skip
        load.lite = median(loads)
        delay = Row("web", "page: state change to row change (ms)", fmt="{:.1f}",
                    note=f"median of {len(delays)} events")  # fmt: skip
        delay.lite = median(delays)
        wake = Row("web", "[http] on, no client, 3 s: daemon context switches", fmt="{:.0f}")
        wake.lite = idle
        rows += [load, delay, wake]
    return rows
