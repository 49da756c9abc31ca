"""Talking to systemd: the daemon's own sd_notify to its manager (notify), its
WATCHDOG=1 and STATUS= upkeep (notifier), the unit for this install (unit), and
`supervisord-lite export systemd` (export, export_keys, export_files, syntax), loaded
only for that command.

May import: core, linux, config, logs, base.
"""
