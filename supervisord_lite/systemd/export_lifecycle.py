"""`export systemd` for the lifecycle keys (docs/export.md, docs/lifecycle.md):
oneshot as Type=oneshot, the hooks as ExecStartPre= ... ExecStopPost=, hook_timeout as
the start and stop timeouts, and depends_on's conditions as Requires=/Wants= + After=
where systemd can express them (a note and a warning where it cannot).
"""

from __future__ import annotations

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.systemd.export_keys import Unit, resolve_command, unit_name
from supervisord_lite.systemd.syntax import quote_word

# exec_start_post's failure is reported, never acted on (docs/lifecycle.md): systemd's
# "-" prefix says the same (a failing ExecStartPost= would fail the unit otherwise).
_HOOK_DIRECTIVES = (
    ("exec_start_pre", "ExecStartPre", ""),
    ("exec_start_post", "ExecStartPost", "-"),
    ("exec_stop", "ExecStop", ""),
    ("exec_stop_post", "ExecStopPost", ""),
)


def lifecycle(program: ProgramConfig, unit: Unit) -> None:
    """oneshot, then the hooks; after readiness and restart_policy, whose Type= and
    Restart= a oneshot replaces."""
    if program.oneshot:
        _replace(unit, "Type", "oneshot")
        # Stays "active" once completed: dependents After= it start after its success,
        # and it is not run again by every dependent's start (as a completed job here).
        unit.set("Service", "RemainAfterExit", "yes")
        # A failed run is a failed start, retried; a completed one is never restarted.
        _replace(unit, "Restart", "on-failure")
        _drop(unit, "RestartForceExitStatus")  # systemd refuses it on a oneshot
        unit.set("Service", "TimeoutStartSec", "infinity")  # a job runs as long as it takes
    for key, directive, prefix in _HOOK_DIRECTIVES:
        for argv in getattr(program, key):
            command = resolve_command(program.replace(command=argv), unit)
            words = [unit.carry(key, lambda w, first=(i == 0): quote_word(w, first), w)
                     for i, w in enumerate(command)]  # fmt: skip
            unit.set("Service", directive, prefix + " ".join(words))
    if program.has_hooks():
        unit.note("hook_timeout", f"systemd bounds a unit's whole start and stop, not each "
                  f"command ({program.hook_timeout:g}s here)")  # fmt: skip
        starts = len(program.exec_start_pre) + len(program.exec_start_post)
        if starts and not program.oneshot and program.ready is None:
            unit.set("Service", "TimeoutStartSec", f"{program.hook_timeout * starts:g}s")


def dependency_lines(
    program: ProgramConfig, programs: dict[str, ProgramConfig], unit: Unit
) -> tuple[list[str], list[str]]:
    """(Requires=, Wants=) units for depends_on. `ready`, `healthy` and
    `completed_successfully` need the dependency (Requires=: its failure fails this
    one); `completed` only orders (Wants=: it starts whatever the job's exit code);
    `started` needs it but no order beyond its exec."""
    requires, wants = [], []
    for dep in program.depends_on:
        condition = program.condition_of(dep)
        other = programs[dep]
        names = [unit_name(p) for p in other.processes]
        (wants if condition == "completed" else requires).extend(names)
        if condition.startswith("completed") and not other.oneshot:
            unit.note("depends_on", f'{dep} = "{condition}": After= a service waits for its '
                      "start, not its exit; make it oneshot = true")  # fmt: skip
        elif condition == "healthy":
            unit.note("depends_on", f'{dep} = "healthy": systemd has no health probes; '
                      "this unit starts once it is up")  # fmt: skip
        elif condition == "started":
            unit.note("depends_on", f'{dep} = "started": After= waits for its start-up '
                      "(its readiness with Type=notify), not only for its spawn")  # fmt: skip
    return requires, wants


def _replace(unit: Unit, key: str, value: str) -> None:
    _drop(unit, key)
    unit.set("Service", key, value)


def _drop(unit: Unit, key: str) -> None:
    items = unit.sections["Service"]
    items[:] = [item for item in items if not item.startswith(f"{key}=")]
