"""cpu_quota and tasks_max need cgroups: refused, with the reason, where the daemon
cannot keep them (`--check`, launch, reload).

The kernel keeps them on each process's cgroup (cpu.max, pids.max), so they hold only
where the daemon tracks processes in cgroups with the cpu and pids controllers on.
Elsewhere a config asking for them is an error, never a silent no-op.
"""

from __future__ import annotations

from supervisord_lite.config.model import ConfigError, DaemonConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.linux.cgroups import CgroupTree

# config/limits.py's CGROUP_KEYS (key -> the controller it needs), named here so that a
# daemon without limits never loads that module.
_NEEDS = {"cpu_quota": "cpu", "tasks_max": "pids"}


def quota_problems(config: DaemonConfig, available: set[str] | tuple, why: str) -> list[str]:
    """One error per program limit whose controller is not available, naming the file,
    table and key, and why (what this host's cgroups offer)."""
    problems = []
    for program in config.programs.values():
        for key, _ in program.limits:
            controller = _NEEDS.get(key)
            if controller is not None and controller not in available:
                problems.append(
                    f"{program.source}: programs.{program.name}.limits.{key}: needs the "
                    f'cgroup v2 "{controller}" controller for the processes\' cgroups, '
                    f"which this daemon cannot use here ({why}); remove it, or run the "
                    "daemon with a delegated cgroup or a cgroup_root that offers it"
                )
    return problems


def uses_quotas(config: DaemonConfig) -> bool:
    return any(key in _NEEDS for p in config.programs.values() for key, _ in p.limits)


def check_reload_quotas(new: DaemonConfig, tree: CgroupTree | None) -> None:
    """A reload may not bring cpu_quota or tasks_max where the running daemon's cgroups
    cannot keep them: ConfigError with every such key."""
    if tree is not None:
        problems = quota_problems(new, tree.controllers, tree.summary())
    else:
        problems = quota_problems(new, (), "processes are tracked with process groups")
    if problems:
        raise ConfigError(problems)
