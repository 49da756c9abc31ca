"""What the user wrote: the TOML config read, checked and turned into frozen values.

Public face: `load.load_config` / `load.load_config_report` / `load.find_config_path`,
the values in `model` (DaemonConfig, ProgramConfig, GroupConfig, AlertsConfig,
ConfigError), the key tables in `keys` (one table that config, --check --json, convert
and export read), the value converters in `values` (the wording of a problem in
`messages`). The rest: the loader (loader, with its state in load_context, its tables
in load_tables, its cross checks in load_checks), the [http], probe, limits and listener
tables (http, probes, limits, listeners), log paths checked on disk (log_paths), what
this host lacks (host), `--check` (check), reading a file (bounded_read), and the pure
cores not wired yet: schedules (cron, cron_parse, local_zone), env files (env_file).

May import: base. Never the loop or anything that runs: --check, convert and export
load a config without starting anything.
"""
