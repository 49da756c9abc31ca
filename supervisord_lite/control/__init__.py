"""The control socket and what each command does.

The socket server (server: ControlServer, Client), one handler per command (commands:
Commands), the surface a handler answers through (replies: Replier, LATER), status
replies as JSON (status_json) and the Prometheus text (metrics, metrics_rows). The
handlers serve the HTTP API too.

May import: engine and everything below it.
"""
