"""The page shows the lifecycle (docs/lifecycle.md) live: a hook running beside a
RUNNING process, a completed job; a notice (a hook's end) leaves the state badge alone.
Skipped where chromium or chromedriver is missing."""

from __future__ import annotations

import pytest

from integration import browser
from integration.harness import wait_until
from integration.http_helpers import start_http
from integration.test_web_page import row_texts

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not browser.available(), reason="needs /usr/bin/chromium and chromedriver"),
]


def test_page_shows_a_running_hook_and_a_completed_job(daemon):
    flag = daemon.path("go")
    wait_for_flag = ["sh", "-c", f'while [ ! -e "{flag}" ]; do sleep 0.1; done']
    programs = {
        "app": {"command": ["sleep", "300"], "startsecs": 0, "exec_start_post": [wait_for_flag]},
        "job": {"command": ["sh", "-c", "sleep 1"], "oneshot": True, "autostart": False},
    }
    port = start_http(daemon, programs)
    daemon.wait_until(lambda: daemon.status()["app"]["hook"])
    with browser.chromium() as driver:
        driver.get(f"http://127.0.0.1:{port}/")
        wait_until(lambda: driver.execute_script("return document.body.dataset.loaded") == "2", 15)
        state, desc = row_texts(driver, ["app"])["app"]
        assert state == "RUNNING" and desc.startswith("running exec_start_post: sh -c"), desc
        flag.write_text("")  # the hook ends: its `hook` event refreshes the row
        wait_until(
            lambda: row_texts(driver, ["app"])["app"] == ["RUNNING", ""],
            10,
            message=lambda: str(row_texts(driver, ["app"])),
        )
        daemon.ctl_ok("start", "job")
        wait_until(lambda: row_texts(driver, ["job"])["job"][0] == "EXITED", 10)
        wait_until(lambda: row_texts(driver, ["job"])["job"][1].startswith("completed: "), 10)
