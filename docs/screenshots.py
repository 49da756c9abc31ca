"""Take the screenshots for the docs: the page at desktop and phone (360 px) widths,
light and dark, and `supervisorctl-lite top` in a terminal. Run once from the
repository: `.venv/bin/python docs/screenshots.py`.

It starts a throw-away daemon with a few programs in mixed states, opens the page in
headless Chromium (Debian's chromium + chromedriver) and writes docs/screenshots/*.png;
it runs `top` on a pseudo-terminal, reads the screen with pyte and writes it as
docs/screenshots/top.svg (and top.png, the SVG as Chromium draws it).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from integration import browser  # noqa: E402
from integration.harness import free_port, to_toml, wait_until  # noqa: E402
from integration.pty_term import Term  # noqa: E402

# Busy for a moment, idle for a second: a CPU chart with a shape.
WAVE = "while :; do i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 1; done"
# Memory that grows by 4 MiB a second to 40 MiB, then drops: a sawtooth chart.
SAW = (
    "import time\nheap = []\nwhile True:\n    heap.append(bytearray(4 << 20))\n"
    "    heap = [] if len(heap) > 10 else heap\n"
    "    print('heap', len(heap) * 4, 'MiB', flush=True)\n    time.sleep(1)\n"
)
PROGRAMS = {
    # first: the phone's screen shows the charts with a shape
    "programs.cruncher": {"command": ["sh", "-c", WAVE], "startsecs": 0},
    "programs.cache": {"command": [sys.executable, "-c", SAW], "startsecs": 0},
    "programs.web": {"command": ["sleep", "100000"], "startsecs": 0, "numprocs": 3},
    "programs.worker": {"command": ["sh", "-c", "echo working; sleep 100000"], "startsecs": 0},
    "programs.cron": {"command": ["sleep", "100000"], "autostart": False},
    "programs.flaky": {"command": ["sh", "-c", "exit 3"], "startretries": 0},
    "programs.mailer": {"command": ["sh", "-c", "exit 1"], "autorestart": False, "startsecs": 0},
    "groups.front": {"programs": ["web"]},
}


POLL = "const done = arguments[arguments.length - 1]; pollStats().then(() => done(true));"


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="sdl-shots-", dir="/tmp"))
    port = free_port()
    config = root / "sdl.toml"
    supervisord = {"socket": "sdl.sock", "pidfile": "sdl.pid", "logfile": "sdl.log"}
    tables = {"supervisord": supervisord, **PROGRAMS, "http": {"listen": f"127.0.0.1:{port}"}}
    config.write_text(to_toml(tables))
    subprocess.run([sys.executable, "-m", "supervisord_lite", "-c", str(config)], check=True,
                   timeout=30)  # fmt: skip
    try:
        time.sleep(2)  # flaky reaches FATAL, mailer EXITED
        for dark in (False, True):
            for label, width, height in (("desktop", 1280, 640), ("phone", 360, 780)):
                with browser.chromium(width, height, dark=dark) as driver:
                    driver.get(f"http://127.0.0.1:{port}/")
                    loaded = "return document.body.dataset.loaded"
                    wait_until(lambda d=driver, js=loaded: d.execute_script(js))
                    # The charts' history: polls a little over a second apart (the
                    # daemon keeps its /proc pass a second), not the page's 5 s.
                    for _ in range(14):
                        driver.execute_async_script(POLL)
                        time.sleep(1.1)
                    name = f"{label}-{'dark' if dark else 'light'}.png"
                    driver.save_screenshot(str(HERE / "screenshots" / name))
                    print("wrote", name)
        shoot_top(config)
    finally:
        ctl = [sys.executable, "-m", "supervisord_lite.ctl", "-c", str(config), "shutdown"]
        subprocess.run(ctl, timeout=60)
    return 0


# xterm's colours as pyte names them (the view uses the 16 basic ones), on a dark theme.
COLOURS = {
    "black": "#1d1f21", "red": "#cc6666", "green": "#8ec07c", "brown": "#de935f",
    "blue": "#81a2be", "magenta": "#b294bb", "cyan": "#8abeb7", "white": "#c5c8c6",
    "brightblack": "#666666", "brightred": "#ff7b72", "brightgreen": "#7ee787",
    "brightbrown": "#f0c674", "brightblue": "#79c0ff", "brightmagenta": "#d2a8ff",
    "brightcyan": "#a5d6ff", "brightwhite": "#ffffff",
}  # fmt: skip
BACKGROUND, FOREGROUND = "#0d1117", "#c9d1d9"
CELL_W, CELL_H = 8.4, 18


def shoot_top(config: Path) -> None:
    """`top` on a 112x30 pty: every row, CPU % from a few status polls, a log below."""
    argv = [sys.executable, "-m", "supervisord_lite.ctl", "-c", str(config), "top"]
    term = Term(argv, dict(os.environ), cols=112, rows=30)
    try:
        term.wait_for(lambda: term.line_of("cache") and "heap" in term.text(), 20, "top")
        time.sleep(4)  # CPU % needs a few status answers
        term.pump(0.2)
        svg = screen_svg(term.screen)
        term.send(b"q")
        term.wait_exit()
    finally:
        term.close()
    (HERE / "screenshots" / "top.svg").write_text(svg)
    width, height = int(term.screen.columns * CELL_W) + 24, term.screen.lines * CELL_H + 24
    with browser.chromium(width + 100, height + 200) as driver:
        driver.get((HERE / "screenshots" / "top.svg").as_uri())
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"clip": clip})
        (HERE / "screenshots" / "top.png").write_bytes(base64.b64decode(shot["data"]))
    print("wrote top.svg, top.png")


def screen_svg(screen) -> str:
    """The pyte screen as an SVG: a rectangle per coloured run, a text per run."""
    parts = []
    for y in range(screen.lines):
        line = screen.buffer[y]
        x = 0
        while x < screen.columns:
            char = line[x]
            key = (char.fg, char.bg, char.bold, char.reverse)
            end = x + 1
            while end < screen.columns and _style(line[end]) == key:
                end += 1
            text = "".join(line[i].data for i in range(x, end))
            parts.append(_run(x, y, end - x, text, *key))
            x = end
    w, h = screen.columns * CELL_W + 24, screen.lines * CELL_H + 24
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
        f'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14">\n'
        f'<rect width="100%" height="100%" rx="8" fill="{BACKGROUND}"/>\n'
        f'<g transform="translate(12 12)">\n' + "".join(parts) + "</g>\n</svg>\n"
    )


def _style(char) -> tuple:
    return (char.fg, char.bg, char.bold, char.reverse)


def _run(x: int, y: int, length: int, text: str, fg, bg, bold, reverse) -> str:
    fg = COLOURS.get(fg, FOREGROUND)
    bg = COLOURS.get(bg)
    if reverse:
        fg, bg = bg or BACKGROUND, fg
    out = ""
    left, top = x * CELL_W, y * CELL_H
    if bg:
        out += (f'<rect x="{left:.1f}" y="{top}" width="{length * CELL_W:.1f}" '
                f'height="{CELL_H}" fill="{bg}"/>')  # fmt: skip
    if text.strip():
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        weight = ' font-weight="bold"' if bold else ""
        out += (f'<text x="{left:.1f}" y="{top + 13}" fill="{fg}"{weight} xml:space="preserve" '
                f'textLength="{length * CELL_W:.1f}">{escaped}</text>')  # fmt: skip
    return out + ("\n" if out else "")


if __name__ == "__main__":
    sys.exit(main())
