"""top: `supervisorctl-lite top` and the page's charts with 1000 sleeping programs.

- top's refresh: a real daemon's `status` answers for 1000 processes, then, in this
  process, the work top does for a frame: the answer applied to the model, the order
  (sorted by CPU %, the costliest), the screen's text made and rendered by urwid into a
  200x50 canvas. Three kinds of frame: a status answer (once a second at most), a state
  change from the events stream, and the once-a-second tick (uptimes move). Writing the
  canvas to the terminal is urwid's and the terminal's, not measured.
- The page's frame: headless Chromium on the page with 1000 rows, each with a CPU and a
  memory chart; the page records the time from a stats answer to the painted frame that
  shows the new figures and charts (window.sdlStatsFrames).

supervisord has no counterpart. Run only when named (--only top): it needs urwid (the
top extra) and Chromium.
"""

from __future__ import annotations

import os
import sys
import time

from benchmarks.common import Row, Settings, median, percentile
from benchmarks.managers import Lite

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tests"))

N = 1000
COLS, LINES = 200, 50
POLL = "const done = arguments[arguments.length - 1]; pollStats().then(() => done(true));"


class LiteHttp(Lite):
    """supervisord_lite with the page on a free loopback port."""

    def write_config(self, programs) -> None:
        super().write_config(programs)
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with open(self.config, "a") as fh:
            fh.write(f'\n[http]\nlisten = "127.0.0.1:{self.port}"\n')


def frame_times(answers: list[list], frames: int) -> dict[str, list[float]]:
    """ms per frame of each kind, from `answers` (status results a second apart)."""
    from supervisord_lite.ctl.top.model import Model
    from supervisord_lite.ctl.top.view import Top, TopScreen

    model = Model()
    model.set_sort("cpu")
    top = Top(model, [], False, {})
    screen = TopScreen(top)
    t0 = time.monotonic()
    for i, answer in enumerate(answers):  # CPU % needs a few answers before it shows
        model.apply_status("", answer, t0 + i * 1.05)

    def draw() -> None:
        for _ in screen.render((COLS, LINES)).content():
            pass

    draw()
    top._select(0)
    times: dict[str, list[float]] = {"status": [], "event": [], "tick": []}
    names = [p["name"] for p in answers[-1]]
    for i in range(frames):
        began = time.perf_counter()
        model.apply_status("", answers[i % len(answers)], time.monotonic())
        draw()
        times["status"].append(time.perf_counter() - began)
        name = names[(i * 37) % len(names)]
        event = {"process": name, "from": "RUNNING", "to": "STOPPED", "pid": None}
        if i % 2:
            event = {"process": name, "from": "STOPPED", "to": "RUNNING", "pid": 1000 + i}
        began = time.perf_counter()
        model.apply_event("", event, time.monotonic())
        draw()
        times["event"].append(time.perf_counter() - began)
        began = time.perf_counter()
        model.changed()
        draw()
        times["tick"].append(time.perf_counter() - began)
    return {kind: [t * 1000 for t in values] for kind, values in times.items()}


def page_frames(mgr: LiteHttp, polls: int) -> list[float]:
    from integration import browser

    with browser.chromium() as driver:
        driver.get(f"http://127.0.0.1:{mgr.port}/")
        for _ in range(3000):
            if driver.execute_script("return document.body.dataset.loaded") == str(N):
                break
            time.sleep(0.01)
        for _ in range(polls + 1):  # the first answer has no rate yet: no chart point
            time.sleep(1.1)  # the daemon keeps its /proc pass a second
            driver.execute_async_script(POLL)
        for _ in range(500):  # the last frame's time arrives after its paint
            got = driver.execute_script("return window.sdlStatsFrames")
            if len(got) >= polls + 1:
                return got[1:]
            time.sleep(0.01)
        return got[1:]


def run(settings: Settings) -> list[Row]:
    frames, polls = settings.pick(200, 20), settings.pick(12, 3)
    rows: list[Row] = []
    try:
        import urwid  # noqa: F401  (the top extra)
    except ImportError:
        rows.append(Row("top", "skipped: urwid (the top extra) is not installed"))
    from integration import browser

    with LiteHttp() as mgr:
        mgr.launch_sleepers(N)
        if not rows:
            client = mgr.client()
            answers = []
            for i in range(4):
                if i:
                    time.sleep(1.05)
                answers.append(client.status())
            client.close()
            times = frame_times(answers, frames)
            what = {
                "status": "a status answer applied and drawn",
                "event": "a state change applied and drawn",
                "tick": "the once-a-second redraw",
            }
            for kind, values in times.items():
                row = Row("top", f"top, {N} processes, {COLS}x{LINES}: {what[kind]} (ms)",
                          fmt="{:.2f}", note=f"median of {len(values)}, "
                          f"p95 {percentile(values, 95):.2f}, sorted by CPU %")  # fmt: skip
                row.lite = median(values)
                rows.append(row)
        if browser.available():
            got = page_frames(mgr, polls)
            row = Row("top", f"page, {N} processes: stats answer to painted frame (ms)",
                      fmt="{:.1f}", note=f"median of {len(got)}, 2 charts a row, "
                      "headless Chromium")  # fmt: skip
            row.lite = median(got)
            rows.append(row)
        else:
            rows.append(Row("top", "page: skipped (Chromium and chromedriver not installed)"))
    return rows
