"""The vocabulary every other package shares: standard library only, no I/O of its own.

Frozen value classes (frozen), process names and NAME matching (names), where the config
and socket are (paths), the control protocol's framing and error codes (protocol), the
progress lines of a waiting command (progress), password hashes (passwords), the ssh
road to another host (ssh), a URL shown without its secrets (redact), Supervisor's
event type names (event_types).

Imports nothing of supervisord_lite. The ctl imports these modules one by one, so this
file imports none of them: the ctl's start-up time is a feature.
"""
