"""Take the page's screenshots for the docs: desktop and phone (360 px) widths, light
and dark. Run once from the repository: `.venv/bin/python docs/screenshots.py`.

It starts a throw-away daemon with a few programs in mixed states, opens the page in
headless Chromium (Debian's chromium + chromedriver) and writes docs/screenshots/*.png.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from integration import browser  # noqa: E402
from integration.harness import free_port, to_toml, wait_until  # noqa: E402

PROGRAMS = {
    "programs.web": {"command": ["sleep", "100000"], "startsecs": 0, "numprocs": 3},
    "programs.worker": {"command": ["sh", "-c", "echo working; sleep 100000"], "startsecs": 0},
    "programs.cron": {"command": ["sleep", "100000"], "autostart": False},
    "programs.flaky": {"command": ["sh", "-c", "exit 3"], "startretries": 0},
    "programs.mailer": {"command": ["sh", "-c", "exit 1"], "autorestart": False, "startsecs": 0},
    "groups.front": {"programs": ["web"]},
}


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
                    time.sleep(6)  # CPU and memory arrive with the second stats poll
                    name = f"{label}-{'dark' if dark else 'light'}.png"
                    driver.save_screenshot(str(HERE / "screenshots" / name))
                    print("wrote", name)
    finally:
        ctl = [sys.executable, "-m", "supervisord_lite.ctl", "-c", str(config), "shutdown"]
        subprocess.run(ctl, timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
