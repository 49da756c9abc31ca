"""How a secret-bearing URL is shown in logs and messages: scheme and host only.

A Slack (or any chat) incoming webhook's path *is* its credential: whoever reads it can
post to the channel. The daemon log is readable by more people than the config, so a
webhook URL is never written whole anywhere the daemon writes (deliveries, failures,
config errors): no path, no query, no user or password. Stdlib only, imported by the
config layer and the alert delivery alike.
"""

from __future__ import annotations


def url(text: str) -> str:
    """`https://hooks.slack.com/services/T0/B0/X?y` -> `https://hooks.slack.com`; the port
    is kept when given (it is no secret, and says which server). Never raises."""
    # Imported here: the config layer imports this module for every daemon, and
    # urllib.parse (with ipaddress) costs ~0.4 MiB resident; only a URL pays it.
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a port that is no number, a broken [IPv6]: show no more than this
        try:
            parts = urlsplit(text)
            host, port = parts.hostname or "", None
        except ValueError:
            return "(a URL that cannot be parsed)"
    scheme = parts.scheme if parts.scheme.isalnum() else ""
    if ":" in host:
        host = f"[{host}]"
    shown = f"{scheme}://{host}" if scheme else host or "(a URL without a host)"
    return f"{shown}:{port}" if port is not None and host else shown
