"""Watching a child: readiness, health and its sd_notify messages.

The probes as non-blocking state machines (attempts), the runner that drives them per
process and feeds Ready/Unhealthy to the machine (runner: ProbeRunner, which needs
only a ProbeHost of the supervisor), and the socket the children sd_notify to
(notify_socket). Loaded only when a program has a probe.

May import: core, linux, config, logs, base.
"""
