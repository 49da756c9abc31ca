"""The process table and what it does to children.

Supervisor (supervisor: effects carried out, starts in dependency order, stop batches,
spawning, exits), reaping (reaper), reload (reload), children's pipes into their logs
(output), the child record for crash recovery (recovery), memory_limit sampling
(memory_watch) and the listener lists (subscribers).

May import: probes, alerts, systemd, core, linux, config, logs, base.
"""
