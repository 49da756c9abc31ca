"""`[programs.NAME.limits]`: the config value (rlimits, nice, oom_score_adj) and its
converter (pure: no I/O). Applying it in the child is linux/rlimits.py's.
"""

from __future__ import annotations

import resource
from typing import Any

from supervisord_lite.config import values as cv

UNLIMITED = resource.RLIM_INFINITY  # -1 on Linux

# key -> (RLIMIT_*, takes a size like "512MB")
RLIMITS: dict[str, tuple[int, bool]] = {
    "nofile": (resource.RLIMIT_NOFILE, False),
    "nproc": (resource.RLIMIT_NPROC, False),
    "core": (resource.RLIMIT_CORE, True),
    "memlock": (resource.RLIMIT_MEMLOCK, True),
    "stack": (resource.RLIMIT_STACK, True),
    "as": (resource.RLIMIT_AS, True),
    "fsize": (resource.RLIMIT_FSIZE, True),
    "cpu": (resource.RLIMIT_CPU, False),  # seconds
}
# Kept by the kernel on the process's cgroup (cpu.max, pids.max), not set in the child:
# only where the daemon tracks processes in cgroups with those controllers.
CGROUP_KEYS = {"cpu_quota": "cpu", "tasks_max": "pids"}  # key -> the controller it needs
KEYS = (*RLIMITS, "nice", "oom_score_adj", *CGROUP_KEYS)
MAX_TASKS = 4194304  # the kernel's pid_max ceiling (PID_MAX_LIMIT)

# A program's limits: (key, value) pairs in KEYS order; an rlimit's value is
# (soft, hard) with UNLIMITED for "unlimited". Hashable, so reload can compare it.
Limits = "tuple[tuple[str, Any], ...]"


# --- the config value ----------------------------------------------------------------------


def convert(value: Any) -> tuple[tuple[str, Any], ...]:
    """The [programs.NAME.limits] table -> sorted (key, value) pairs; every bad key reported."""
    if not isinstance(value, dict):
        raise cv.fail(f"expected a table like {{ nofile = 4096 }}, got {cv.show(value)}")
    values: dict[str, Any] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, raw in value.items():
        try:
            if key in RLIMITS:
                values[key] = _rlimit(raw, RLIMITS[key][1])
            elif key == "nice":
                values[key] = cv.integer(-20, 19)(raw)
            elif key == "oom_score_adj":
                values[key] = cv.integer(-1000, 1000)(raw)
            elif key == "cpu_quota":
                values[key] = _percent(raw)
            elif key == "tasks_max":
                values[key] = cv.integer(1, limit=MAX_TASKS, why="pid_max")(raw)
            else:
                import difflib

                close = difflib.get_close_matches(key, KEYS, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                known = ", ".join(KEYS)
                raise cv.fail(f"unknown limit{hint}; known: {known}")
        except cv.Invalid as exc:
            problems += [((key, *sub), msg) for sub, msg in exc.problems]
    if problems:
        raise cv.Invalid(problems)
    return tuple((key, values[key]) for key in KEYS if key in values)


def _percent(raw: Any) -> float:
    """ "50%" (of one CPU; "200%" is two, as systemd's CPUQuota=) -> 50.0."""
    text = raw.strip() if isinstance(raw, str) else ""
    try:
        value = float(text[:-1]) if text.endswith("%") else -1.0
    except ValueError:
        value = -1.0
    if not 0 < value <= 100_000 or value != value:
        raise cv.fail(f'expected a percentage of one CPU like "50%" (0 < N <= 100000), '
                      f"got {cv.show(raw)}")  # fmt: skip
    return value


def cgroup_limits(limits: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """The limits the kernel keeps on the cgroup: cpu_quota, tasks_max (where given)."""
    return {key: value for key, value in limits if key in CGROUP_KEYS}


def _rlimit(raw: Any, sized: bool) -> tuple[int, int]:
    """4096 | "unlimited" | [soft, hard] (and "512MB" for the sizes) -> (soft, hard)."""
    if isinstance(raw, list):
        if len(raw) != 2:
            raise cv.fail(f"expected [soft, hard], got {cv.show(raw)}")
        soft, hard = (_one_limit(v, sized, (i,)) for i, v in enumerate(raw))
        if _above(soft, hard):
            raise cv.fail(
                f"the soft limit {cv.show(raw[0])} is above the hard limit {cv.show(raw[1])}"
            )
        return soft, hard
    one = _one_limit(raw, sized, ())
    return one, one


def _one_limit(raw: Any, sized: bool, where: tuple[int, ...]) -> int:
    if isinstance(raw, str) and raw.strip().lower() == "unlimited":
        return UNLIMITED
    try:
        if sized and isinstance(raw, str):
            return cv.byte_size(raw)
        return cv.integer(0)(raw)
    except cv.Invalid:
        what = 'a size like "512MB", ' if sized else ""
        message = f'expected {what}an integer >= 0 or "unlimited", got {cv.show(raw)}'
        raise cv.Invalid([(where, message)]) from None


def _above(soft: int, hard: int) -> bool:
    if hard == UNLIMITED:
        return False
    return soft == UNLIMITED or soft > hard


def as_json(limits: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """For --check --json: rlimits as [soft, hard] with "unlimited" spelled out."""

    def show(v: int) -> Any:
        return "unlimited" if v == UNLIMITED else v

    return {
        key: [show(value[0]), show(value[1])] if key in RLIMITS else value for key, value in limits
    }
