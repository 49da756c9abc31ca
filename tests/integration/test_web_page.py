"""The page in a real browser (headless Chromium): it shows every process, a click on
Stop stops one and its row turns STOPPED without a reload, a crash elsewhere shows up
live, and the log tail grows. Skipped where chromium or chromedriver is missing."""

from __future__ import annotations

import os
import signal
import time

import pytest

from integration import browser
from integration.harness import wait_until
from integration.http_helpers import start_http

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not browser.available(), reason="needs /usr/bin/chromium and chromedriver"),
]


def row_state(driver, name: str) -> str:
    return driver.execute_script(
        "const tr = document.querySelector(`tr.proc[data-name='${arguments[0]}']`);"
        "return tr ? tr.dataset.state + '|' + tr.querySelector('.state').textContent : null;",
        name,
    )


def test_page_shows_controls_and_follows_live(daemon):
    talk = "trap 'echo hup' HUP; echo first; while :; do sleep 0.1; done"
    programs = {
        "web": {"command": ["sleep", "300"], "startsecs": 0, "numprocs": 3},
        "worker": {"command": ["sleep", "300"], "startsecs": 0},
        "talk": {"command": ["sh", "-c", talk], "startsecs": 0},
    }
    port = start_http(daemon, programs, groups={"front": {"programs": ["web"]}})
    for name in ("front:0", "front:1", "front:2", "worker", "talk"):
        daemon.wait_state(name, "RUNNING")
    with browser.chromium() as driver:
        driver.get(f"http://127.0.0.1:{port}/")
        wait_until(lambda: driver.execute_script("return document.body.dataset.loaded") == "5", 15)
        names = driver.execute_script(
            "return [...document.querySelectorAll('tr.proc')].map(tr => tr.dataset.name)"
        )
        assert sorted(names) == ["front:0", "front:1", "front:2", "talk", "worker"]
        assert row_state(driver, "worker") == "RUNNING|RUNNING"
        # no reload from here on: a marker on the window would vanish with one
        driver.execute_script("window.sdlNoReload = true")
        driver.find_element("css selector", "button[aria-label='Stop worker']").click()
        wait_until(lambda: row_state(driver, "worker") == "STOPPED|STOPPED", 10)
        assert daemon.state("worker") == "STOPPED"
        # a crash the page did not cause shows up live
        pid = daemon.status("front:1")["front:1"]["pid"]
        os.kill(pid, signal.SIGKILL)
        cell = "tr.proc[data-name='front:1'] .c-restarts"
        restarts = f'return document.querySelector("{cell}").textContent'
        wait_until(lambda: driver.execute_script(restarts) == "1", 10)  # restarted at once
        new_pid = daemon.wait_state("front:1", "RUNNING")["pid"]
        pid_cell = restarts.replace("c-restarts", "c-pid")
        wait_until(lambda: driver.execute_script(pid_cell) == str(new_pid), 10)
        # the group's Stop acts on the whole group
        driver.find_element("css selector", "button[aria-label='Stop group front']").click()
        wait_until(lambda: all(row_state(driver, f"front:{i}") == "STOPPED|STOPPED"
                               for i in range(3)), 15)  # fmt: skip
        # the filter hides what does not match
        driver.find_element("id", "filter").send_keys("work")
        visible = driver.execute_script(
            "return [...document.querySelectorAll('tr.proc')].filter(tr => !tr.hidden)"
            ".map(tr => tr.dataset.name)"
        )
        assert visible == ["worker"]
        driver.find_element("id", "filter").clear()
        driver.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
        # the log tail shows what is there and grows
        driver.find_element("css selector", "button[aria-label='Log of talk']").click()
        log_text = lambda: driver.find_element("id", "log-text").text  # noqa: E731
        wait_until(lambda: "first" in log_text(), 10)
        daemon.ctl_ok("signal", "HUP", "talk")
        wait_until(lambda: "hup" in log_text(), 10)
        assert driver.execute_script("return window.sdlNoReload") is True


def row_texts(driver, names: list[str]) -> dict:
    """{name: [state, description shown]} of the page's rows."""
    return driver.execute_script(
        "const out = {}; for (const n of arguments[0]) {"
        "  const tr = document.querySelector(`tr.proc[data-name='${n}']`);"
        "  out[n] = tr ? [tr.dataset.state, tr.querySelector('.desc').textContent] : null; }"
        "return out;",
        names,
    )


@pytest.mark.timeout(300)
def test_a_bulk_stop_of_hundreds_refreshes_every_row_and_a_failed_refresh_shows(daemon):
    """After 760 processes stop at once the page asks the daemon for their rows (issue
    22.9: the names no longer go in the URL, where they passed the 16 KiB head limit
    and the rows kept their RUNNING text); a refresh that fails says so and retries."""
    count = 760
    # names as long as production's: 760 of them are about 40 KiB in a query string
    many_name = "{program_name}-instance-{process_num:04d}"
    programs = {
        "many": {"command": ["sleep", "600"], "startsecs": 0, "numprocs": count,
                 "process_name": many_name},
        "one": {"command": ["sleep", "600"], "startsecs": 0},
    }  # fmt: skip
    port = start_http(daemon, programs)
    many = [f"many:many-instance-{i:04d}" for i in range(count)]
    daemon.wait_until(lambda: {p["state"] for p in daemon.status().values()} == {"RUNNING"}, 60)
    with browser.chromium() as driver:
        driver.get(f"http://127.0.0.1:{port}/")
        loaded = "return document.body.dataset.loaded"
        wait_until(lambda: driver.execute_script(loaded) == str(count + 1), 30)
        daemon.ctl_ok("stop", "many:*", timeout=120)
        want = {n: ["STOPPED", p["description"]] for n, p in daemon.status(*many).items()}
        wait_until(lambda: row_texts(driver, many) == want, 30)
        assert driver.find_element("id", "message").text == ""
        # a refresh the network refuses: the page says so, then catches up once it can
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/status*"]})
        daemon.ctl_ok("stop", "one")
        message = lambda: driver.find_element("id", "message").text  # noqa: E731
        wait_until(lambda: message().startswith("Cannot refresh 1 changed row:"), 15)
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        stopped = daemon.status("one")["one"]["description"]
        wait_until(lambda: row_texts(driver, ["one"])["one"] == ["STOPPED", stopped], 15)
        wait_until(lambda: message() == "", 5)


CHART = """
const tr = document.querySelector(`tr.proc[data-name='${arguments[0]}']`);
const out = {};
for (const key of ["cpu", "memory"]) {
  const svg = tr.querySelector(`.c-${key} svg.spark`);
  const line = svg.querySelector("polyline");
  const box = svg.getBoundingClientRect();
  const pts = (line.getAttribute("points") || "").split(" ").filter(Boolean)
    .map((p) => p.split(",").map(Number));
  out[key] = {points: pts, label: svg.getAttribute("aria-label"),
              stroke: getComputedStyle(line).stroke, width: box.width, height: box.height,
              left: box.left, right: box.right,
              text: tr.querySelector(`.c-${key} .figure`).textContent};
}
out.background = getComputedStyle(document.body).backgroundColor;
out.viewport = document.documentElement.clientWidth;
return out;
"""
POLL = "const done = arguments[arguments.length - 1]; pollStats().then(() => done(true));"


@pytest.mark.parametrize("width,dark", [(1280, False), (360, True)])
def test_charts_show_cpu_and_memory_over_time_at_any_width(daemon, width, dark):
    """Each row's CPU and memory as a small chart, from the page's own stats polls (the
    daemon keeps no history): a busy loop's line runs along the top, a sleeper's along
    the bottom; readable on a phone in dark mode; a restart starts a new chart."""
    spin = {"command": ["sh", "-c", "while :; do :; done"], "startsecs": 0}
    port = start_http(daemon, {"spin": spin, "idle": {"command": ["sleep", "300"],
                                                      "startsecs": 0}})  # fmt: skip
    for name in ("spin", "idle"):
        daemon.wait_state(name, "RUNNING")
    with browser.chromium(width, 800, dark=dark) as driver:
        driver.get(f"http://127.0.0.1:{port}/")
        wait_until(lambda: driver.execute_script("return document.body.dataset.loaded") == "2", 15)
        chart = lambda name: driver.execute_script(CHART, name)  # noqa: E731
        # polls a little over a second apart (CPU % is the difference of two readings)
        for _ in range(4):
            driver.execute_async_script(POLL)
            time.sleep(1.1)
        spin_chart, idle_chart = chart("spin"), chart("idle")
        for c in (spin_chart, idle_chart):
            assert len(c["cpu"]["points"]) >= 2 and len(c["memory"]["points"]) >= 2, c
            assert "over the last" in c["cpu"]["label"] and "now" in c["memory"]["label"]
            for key in ("cpu", "memory"):
                assert c[key]["width"] >= 48 and c[key]["height"] >= 12, c  # visible
                assert 0 <= c[key]["left"] and c[key]["right"] <= c["viewport"], c  # on screen
                assert c[key]["stroke"] not in (c["background"], "none"), c
        # y = 17 - 16 * CPU% / 100 (18 px high): a busy loop above 12.5 % even on a loaded
        # machine, a sleeper below it
        assert min(y for _, y in spin_chart["cpu"]["points"][1:]) < 15
        assert all(y > 15 for _, y in idle_chart["cpu"]["points"])
        assert spin_chart["cpu"]["text"].endswith("%")
        # a new run of the process starts a new chart: once the page shows the new pid,
        # the idle row's history is shorter than before (it only grows while the pid
        # stays), also after a poll of the new run
        before = len(chart("idle")["cpu"]["points"])
        assert before >= 3, idle_chart
        daemon.ctl_ok("restart", "idle")
        new_pid = str(daemon.status("idle")["idle"]["pid"])
        pid_cell = "return document.querySelector(`tr.proc[data-name='idle'] .c-pid`).textContent"
        wait_until(lambda: driver.execute_script(pid_cell) == new_pid, 20,
                   message="the page never showed the restarted pid")  # fmt: skip
        driver.execute_async_script(POLL)
        assert len(chart("idle")["cpu"]["points"]) < before, chart("idle")

        # All rows loaded again (what the page does when its event stream reconnects):
        # a process still in the same run keeps its chart; one restarted meanwhile, unheard
        # of (its events lost), starts a new one.
        for _ in range(3):
            driver.execute_async_script(POLL)
            time.sleep(1.1)
        spin_before = len(chart("spin")["cpu"]["points"])
        before = len(chart("idle")["cpu"]["points"])
        assert before >= 2 and spin_before >= 2, (chart("idle"), chart("spin"))
        driver.execute_script("onEvent = () => {};")  # the page hears no event now
        daemon.ctl_ok("restart", "idle")
        new_pid = str(daemon.status("idle")["idle"]["pid"])
        driver.execute_async_script(POLL)  # a poll of the new run, not yet known as new
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; loadAll().then(() => done(true));"
        )
        assert driver.execute_script(pid_cell) == new_pid
        driver.execute_async_script(POLL)
        assert len(chart("idle")["cpu"]["points"]) < before, chart("idle")
        assert len(chart("spin")["cpu"]["points"]) > spin_before, chart("spin")


def test_only_charts_on_the_screen_are_drawn_and_a_row_scrolled_in_draws_its_own(daemon):
    """With many rows, a poll redraws only the charts on (or near) the screen (2000
    offscreen charts made every poll a long frame); the history is kept for every row,
    so a row scrolled into view draws its chart at once."""
    sleeper = {"command": ["sleep", "300"], "startsecs": 0, "numprocs": 80}
    port = start_http(daemon, {"many": sleeper})
    wait_until(lambda: daemon.status("many:79")["many:79"]["state"] == "RUNNING", 30)
    with browser.chromium(1280, 600) as driver:
        driver.get(f"http://127.0.0.1:{port}/")
        wait_until(lambda: driver.execute_script("return document.body.dataset.loaded") == "80", 15)
        chart = lambda name: driver.execute_script(CHART, name)  # noqa: E731
        for _ in range(3):
            driver.execute_async_script(POLL)
            time.sleep(1.1)
        assert len(chart("many:0")["cpu"]["points"]) >= 2  # on the screen
        assert chart("many:79")["memory"]["points"] == []  # far below it: not drawn
        driver.execute_script(
            "document.querySelector(`tr.proc[data-name='many:79']`).scrollIntoView()"
        )
        wait_until(lambda: len(chart("many:79")["memory"]["points"]) >= 2, 5)
