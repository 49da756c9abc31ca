"""`supervisorctl-lite top`'s options, for parse.py's argparse.

Apart from the top package on purpose: the command line must know top's options without
loading top (its modules, its terminal library); the top package reads its sort keys
from here, so the two never disagree.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Callable

SORT_KEYS = ("name", "state", "uptime", "pid", "restarts", "cpu", "memory", "health", "host")
# A little over a second: the daemon keeps its /proc pass a second, so asking exactly
# every second would now and then get the same figures twice (a CPU % of 0).
DEFAULT_INTERVAL = 1.05
MIN_INTERVAL = 1.0


def interval(text: str) -> float:
    """--interval's type: seconds, at least 1 (SPEC §14: no polling faster than 1/s)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= MIN_INTERVAL:  # also refuses nan
        raise argparse.ArgumentTypeError(f"takes a number of seconds >= 1, not {text!r}")
    return value


def add_top_command(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Add `top` with `command(name, help)`, build_parser's way of adding one."""
    p = command("top", "a live full-screen view of every process (needs the top extra)")
    p.add_argument("--sort", choices=SORT_KEYS, default="name", help="the column to sort by")
    p.add_argument("--filter", default="", metavar="TEXT", help="name, group, host or state")
    p.add_argument(
        "--interval",
        type=interval,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help="seconds between CPU and memory figures (at least 1; changes show at once)",
    )
