"""The process table and what it does to children.

Supervisor (supervisor: effects carried out, starts in dependency order, stop batches,
spawning, exits), reaping (reaper), reload (reload), children's pipes into their logs
(output), the child record for crash recovery (recovery), memory_limit sampling
(memory_watch), the listener lists (subscribers), and Supervisor's event listeners:
their pools (event_hub), what feeds them (event_sources), one listener's pipes
(listener_pipes).

May import: probes, alerts, systemd, core, linux, config, logs, supervisor_wire, base.
"""
