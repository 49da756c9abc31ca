"""supervisord_lite: a small, fast process manager.

The daemon's packages, each importing only those below it (docs/architecture.md;
pyproject.toml's import contracts keep it so): daemon, http, control, engine,
probes : alerts : systemd, core, linux, config : logs : supervisor_wire, base.
Apart: convert (config and base only) and ctl, the client (base only).
"""

__version__ = "0.1.0"
